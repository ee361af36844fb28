/* Linux's epoll for the epoll-floor probe: Swift's Glibc module does not include
 * <sys/epoll.h>, nor accept4. */
#ifndef CEPOLL_FLOOR_H
#define CEPOLL_FLOOR_H
#include <sys/epoll.h>

/* accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC). */
int epoll_floor_accept(int listener);
#endif
