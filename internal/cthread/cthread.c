#include "cthread.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct event_base *cthread_base_new(const char *method, int flags)
{
	struct event_config *cfg = event_config_new();
	const char **methods = event_get_supported_methods();
	struct event_base *base;
	int i;

	if (cfg == NULL)
		return NULL;
	for (i = 0; methods[i] != NULL; i++) {
		if (strcmp(methods[i], method) != 0)
			event_config_avoid_method(cfg, methods[i]);
	}
	event_config_set_flag(cfg, flags);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static void *run_loop(void *arg)
{
	struct cthread_loop *loop = arg;

	if (loop->block_sigpipe) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	loop->result = event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

struct cthread_loop *cthread_loop_start(struct event_base *base,
    int block_sigpipe)
{
	struct cthread_loop *loop = calloc(1, sizeof(*loop));

	if (loop == NULL)
		return NULL;
	loop->base = base;
	loop->block_sigpipe = block_sigpipe;
	if (pthread_create(&loop->thread, NULL, run_loop, loop) != 0) {
		free(loop);
		return NULL;
	}
	return loop;
}

int cthread_loop_stop(struct cthread_loop *loop)
{
	int result;

	/* event_base_loopexit schedules the exit as an event, which a loop that
	 * is only about to start still sees; a loopbreak would be cleared. */
	event_base_loopexit(loop->base, NULL);
	pthread_join(loop->thread, NULL);
	result = loop->result;
	free(loop);
	return result;
}

int cthread_on_loop_thread(const struct cthread_loop *loop)
{
	return pthread_equal(pthread_self(), loop->thread) != 0;
}
