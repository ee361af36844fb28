/*
 * What a durable send costs when one thread serves every request, as Redis does: a probe of a
 * design Kabar does not have, to weigh issue 14's targets against. Not a chat server.
 *
 *     gcc -O2 -pthread -o /tmp/single-thread-floor scripts/single-thread-floor.c -lsqlite3
 *     /tmp/single-thread-floor DATABASE PORT
 *     chatload --mode redis --port PORT --op send --conns 50 --pipeline 1
 *
 * It speaks the part of Redis's inline protocol that chatload's `redis` mode uses (`PING`,
 * `RPUSH inbox:USER PAYLOAD`), so that chatload drives it exactly as it drives Redis, and
 * stores each `RPUSH` the way Kabar stores a `send`: a row in Kabar's `messages` table
 * (one prepared INSERT; who talked to whom once per commit, as the store's deferred
 * statements do), in WAL with synchronous=NORMAL and foreign keys on. One thread, Redis's
 * loop: wait for what is ready, read it all, run its inserts in one transaction, commit,
 * flush the log with `fdatasync`, and only then write the replies (`:1`). So every reply
 * reports a durable row, as Kabar's `OK` and Redis's `appendfsync always` do, with no
 * thread hand-overs at all.
 *
 * Its checkpoints are arranged as Kabar's are (`LogCheckpointer`), so that they do not hold
 * up a pass: a second thread with its own connection copies the log back each time it grew
 * by another 1,000 frames (a passive checkpoint, which waits for nobody), and the loop
 * checkpoints itself between two passes once the log holds 4,000, so that it starts over.
 *
 * DATABASE is a file kabar-server created (its schema and demo users); the probe works on
 * a copy (`VACUUM INTO`) next to it. A recipient it does not know gets an error reply.
 * It uses the system's SQLite (Debian's), not the one Kabar links.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kabar-sqlite-probe.h"

#define MAX_USERS 64

typedef struct {
    int fd;
    char in[65536];
    size_t inLength;
    char *out;
    size_t outLength, outCapacity;
    int waitsForReplies; /* on the list of connections to answer after the flush */
} Connection;

static sqlite3 *db;
static sqlite3_stmt *insertMessage, *insertPeer, *begin, *commit;
static sqlite3_int64 nextMessageId;
static sqlite3_int64 userIds[MAX_USERS];
static char userNames[MAX_USERS][64], userDisplayNames[MAX_USERS][64];
static int userCount, inTransaction;
static Connection **toAnswer, **closed;
static int toAnswerCount, toAnswerCapacity, closedCount, closedCapacity;

/* The log's length in frames after the last commit, and where the last pass of the
 * checkpoint thread began; `logGrew` wakes that thread. */
static pthread_mutex_t logLock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t logGrew = PTHREAD_COND_INITIALIZER;
static int framesInLog, framesAtLastPass;

static int recordLogLength(void *unused, sqlite3 *connection, const char *name, int frames) {
    (void)unused, (void)connection, (void)name;
    pthread_mutex_lock(&logLock);
    framesInLog = frames;
    if (frames < framesAtLastPass) framesAtLastPass = 0; /* the log started over */
    if (frames >= framesAtLastPass + 1000) pthread_cond_signal(&logGrew);
    pthread_mutex_unlock(&logLock);
    return SQLITE_OK;
}

static void *checkpointEach1000Frames(void *path) {
    sqlite3 *own;
    if (sqlite3_open(path, &own) != SQLITE_OK) {
        fprintf(stderr, "checkpoints: %s\n", sqlite3_errmsg(own));
        exit(1);
    }
    sqlite3_exec(own, "PRAGMA synchronous = NORMAL;", NULL, NULL, NULL);
    for (;;) {
        pthread_mutex_lock(&logLock);
        while (framesInLog < framesAtLastPass + 1000) pthread_cond_wait(&logGrew, &logLock);
        framesAtLastPass = framesInLog;
        pthread_mutex_unlock(&logLock);
        sqlite3_wal_checkpoint_v2(own, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    return NULL;
}

static void check(int rc, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static void step(sqlite3_stmt *statement, const char *what) {
    check(sqlite3_step(statement), what);
    sqlite3_reset(statement);
}

static void reply(Connection *connection, const char *text) {
    size_t length = strlen(text);
    if (connection->outLength + length > connection->outCapacity) {
        connection->outCapacity = (connection->outLength + length) * 2;
        connection->out = realloc(connection->out, connection->outCapacity);
    }
    memcpy(connection->out + connection->outLength, text, length);
    connection->outLength += length;
    if (!connection->waitsForReplies) {
        if (toAnswerCount == toAnswerCapacity) {
            toAnswerCapacity = toAnswerCapacity ? toAnswerCapacity * 2 : 256;
            toAnswer = realloc(toAnswer, sizeof *toAnswer * (size_t)toAnswerCapacity);
        }
        toAnswer[toAnswerCount++] = connection;
        connection->waitsForReplies = 1;
    }
}

/* One request line, without its "\r\n". */
static void handle(Connection *connection, char *line, size_t length) {
    line[length] = 0;
    if (strcmp(line, "PING") == 0) {
        reply(connection, "+PONG\r\n");
        return;
    }
    if (strncmp(line, "RPUSH inbox:", 12) != 0) {
        reply(connection, "-ERR unknown command\r\n");
        return;
    }
    char *recipient = line + 12, *body = strchr(recipient, ' ');
    if (!body) {
        reply(connection, "-ERR no payload\r\n");
        return;
    }
    *body++ = 0;
    int to = -1;
    for (int i = 0; i < userCount; i++)
        if (strcmp(userNames[i], recipient) == 0) to = i;
    if (to < 0) {
        reply(connection, "-ERR unknown user\r\n");
        return;
    }
    int from = (to + userCount - 1) % userCount; /* chatload's connection i sends to user i + 1 */
    if (!inTransaction) {
        step(begin, "BEGIN");
        inTransaction = 1;
    }
    sqlite3_bind_int64(insertMessage, 1, nextMessageId++);
    sqlite3_bind_text(insertMessage, 2, userNames[from], -1, SQLITE_STATIC);
    sqlite3_bind_text(insertMessage, 3, userDisplayNames[from], -1, SQLITE_STATIC);
    sqlite3_bind_int64(insertMessage, 4, userIds[to]);
    sqlite3_bind_text(insertMessage, 5, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(insertMessage, 6, 1700000000000LL);
    step(insertMessage, "INSERT");
    reply(connection, ":1\r\n");
}

/* Reads what the connection has; returns -1 once it is closed. */
static int readRequests(Connection *connection) {
    ssize_t count = read(connection->fd, connection->in + connection->inLength,
                         sizeof connection->in - connection->inLength - 1);
    if (count < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (count <= 0) return -1;
    connection->inLength += (size_t)count;
    size_t start = 0;
    for (size_t i = 1; i < connection->inLength; i++) {
        if (connection->in[i - 1] == '\r' && connection->in[i] == '\n') {
            handle(connection, connection->in + start, i - 1 - start);
            start = i + 1;
        }
    }
    memmove(connection->in, connection->in + start, connection->inLength - start);
    connection->inLength -= start;
    if (connection->inLength == sizeof connection->in - 1) return -1; /* a line too long */
    return 0;
}

/* Commits and flushes what this pass stored, then answers every connection it read. */
static void commitAndAnswer(int log) {
    if (inTransaction) {
        for (int i = 0; i < userCount; i++) { /* who talked to whom, in both directions */
            int to = (i + 1) % userCount;
            sqlite3_bind_int64(insertPeer, 1, userIds[to]);
            sqlite3_bind_text(insertPeer, 2, userNames[i], -1, SQLITE_STATIC);
            step(insertPeer, "peer");
            sqlite3_bind_int64(insertPeer, 1, userIds[i]);
            sqlite3_bind_text(insertPeer, 2, userNames[to], -1, SQLITE_STATIC);
            step(insertPeer, "peer");
        }
        step(commit, "COMMIT");
        inTransaction = 0;
        pthread_mutex_lock(&logLock);
        int frames = framesInLog;
        pthread_mutex_unlock(&logLock);
        if (frames >= 4000) sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (fdatasync(log) != 0) {
            perror("fdatasync");
            exit(1);
        }
    }
    for (int i = 0; i < toAnswerCount; i++) {
        Connection *connection = toAnswer[i];
        size_t written = 0;
        while (written < connection->outLength) { /* replies are small: the socket takes them */
            ssize_t count = send(connection->fd, connection->out + written, connection->outLength - written,
                                 MSG_NOSIGNAL);
            if (count < 0 && errno == EINTR) continue;
            if (count <= 0) break;
            written += (size_t)count;
        }
        connection->outLength = 0;
        connection->waitsForReplies = 0;
    }
    toAnswerCount = 0;
    for (int i = 0; i < closedCount; i++) {
        close(closed[i]->fd);
        free(closed[i]->out);
        free(closed[i]);
    }
    closedCount = 0;
}

static void openDatabase(const char *original) {
    char *copy = sqlite3_mprintf("%s.single-thread", original);
    copy_database(original, copy);
    check(sqlite3_open(copy, &db), copy);
    check(sqlite3_exec(db, KABAR_PRAGMAS " PRAGMA wal_autocheckpoint = 0;", NULL, NULL, NULL), "pragmas");
    sqlite3_wal_hook(db, recordLogLength, NULL);
    pthread_t checkpoints;
    pthread_create(&checkpoints, NULL, checkpointEach1000Frames, copy); /* `copy` is kept for it */
    sqlite3_stmt *users;
    check(sqlite3_prepare_v2(db, "SELECT id, username, name FROM users ORDER BY id", -1, &users, NULL), "users");
    while (userCount < MAX_USERS && sqlite3_step(users) == SQLITE_ROW) {
        userIds[userCount] = sqlite3_column_int64(users, 0);
        snprintf(userNames[userCount], 64, "%s", (const char *)sqlite3_column_text(users, 1));
        snprintf(userDisplayNames[userCount], 64, "%s", (const char *)sqlite3_column_text(users, 2));
        userCount++;
    }
    sqlite3_finalize(users);
    if (userCount < 2) {
        fprintf(stderr, "%s has fewer than two users\n", original);
        exit(1);
    }
    check(sqlite3_prepare_v2(db, KABAR_INSERT_MESSAGE, -1, &insertMessage, NULL), "insert");
    nextMessageId = first_new_message_id(db);
    check(sqlite3_prepare_v2(db, KABAR_INSERT_PEER, -1, &insertPeer, NULL), "peer");
    check(sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL), "begin");
    check(sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL), "commit");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s KABAR_DATABASE PORT\n", argv[0]);
        return 2;
    }
    openDatabase(argv[1]);
    const char *logPath = sqlite3_filename_wal(sqlite3_db_filename(db, "main"));
    step(begin, "BEGIN");
    step(commit, "COMMIT"); /* the log exists from here on */
    int log = open(logPath, O_RDWR);
    if (log < 0) {
        perror(logPath);
        return 1;
    }
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1024) != 0) {
        perror("listen");
        return 1;
    }
    int epoll = epoll_create1(0);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event ready[512];
    for (;;) {
        int count = epoll_wait(epoll, ready, 512, -1);
        for (int i = 0; i < count; i++) {
            Connection *connection = ready[i].data.ptr;
            if (!connection) {
                int fd;
                while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    connection = calloc(1, sizeof *connection);
                    connection->fd = fd;
                    struct epoll_event readable = {.events = EPOLLIN, .data.ptr = connection};
                    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &readable);
                }
            } else if (readRequests(connection) < 0) {
                /* Closed: it is answered what it asked, then forgotten, after this pass. */
                epoll_ctl(epoll, EPOLL_CTL_DEL, connection->fd, NULL);
                if (closedCount == closedCapacity) {
                    closedCapacity = closedCapacity ? closedCapacity * 2 : 64;
                    closed = realloc(closed, sizeof *closed * (size_t)closedCapacity);
                }
                closed[closedCount++] = connection;
            }
        }
        commitAndAnswer(log);
    }
}
