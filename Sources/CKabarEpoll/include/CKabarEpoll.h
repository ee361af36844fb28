/*
 * Linux's epoll for kabar-bench's socket driver (BenchSocketDriver.swift): Swift's Glibc
 * module does not include <sys/epoll.h>. Nothing on other systems.
 */
#ifndef CKABAR_EPOLL_H
#define CKABAR_EPOLL_H

#ifdef __linux__
#include <sys/epoll.h>
#endif

#endif
