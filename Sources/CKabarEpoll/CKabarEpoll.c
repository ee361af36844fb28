/* Only the header matters (include/CKabarEpoll.h); a C target needs one source file. */
#include "CKabarEpoll.h"
