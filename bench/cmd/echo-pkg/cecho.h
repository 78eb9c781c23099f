/*
 * The C server's bufferevent echo (bench/c/echo.c), for -mode c-in-go of
 * echo-pkg: the same C callbacks, run in a Go process.
 */
#ifndef ECHO_PKG_CECHO_H
#define ECHO_PKG_CECHO_H

/* Listens on 127.0.0.1:port (0 for any free port), prints
 * "listening 127.0.0.1:PORT" and runs the loop of a new base. It returns
 * only after an error, with a message on standard error. */
int cecho_run(int port);

#endif
