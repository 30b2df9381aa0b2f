// SPDX-License-Identifier: GPL-2.0
/*
 * replay.c - run saved inputs through the fuzz harness and print TAP.
 *
 *   stream_replay [--nofork] [--extra N] [--engine edu|bochs|igbvf]
 *                 [--valid PATH]... [--nocrash PATH]...
 *
 * PATH is a file or a directory (its regular files, sorted; names
 * starting with '.' and README files are skipped).  Every input runs in
 * its own child, built with ASan and UBSan, so a crash fails that input
 * and not the run.  --valid inputs (fuzz/seeds/: streams as the module
 * emits them) must also parse to completion with an IDENTITY the edu
 * model accepts and at least one STATE record; --nocrash inputs
 * (fuzz/regressions/: minimised crashes) must merely not crash or break a
 * harness invariant.  --nofork runs everything in one process (for the
 * coverage build; the first crash then ends the run).  --extra N adds N
 * to the TAP plan for results the caller prints after ours.
 *
 * --engine runs the inputs through that engine's record decoders instead
 * (engines.c, the edu_fuzz, bochs_fuzz and igbvf_fuzz targets); --valid inputs (the
 * golden streams) must then stage, validate and pass the engine's load
 * checks.
 *
 * Exit status: 0 all passed, 1 any failed, 2 usage or unreadable path.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engines.h"
#include "harness.h"

struct input {
	char *path;
	bool valid;
};

static struct input *inputs;
static size_t ninputs, cap;
static int engine = -1;		/* -1: the stream harness */

static void add_input(const char *path, bool valid)
{
	if (ninputs == cap) {
		cap = cap ? 2 * cap : 64;
		inputs = realloc(inputs, cap * sizeof(*inputs));
		if (!inputs) {
			perror("realloc");
			exit(2);
		}
	}
	inputs[ninputs].path = strdup(path);
	inputs[ninputs].valid = valid;
	ninputs++;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_path(const char *path, bool valid)
{
	struct dirent *de;
	struct stat st;
	char **names = NULL;
	size_t n = 0, i;
	DIR *d;

	if (stat(path, &st)) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		add_input(path, valid);
		return 0;
	}
	d = opendir(path);
	if (!d) {
		perror(path);
		return -1;
	}
	while ((de = readdir(d))) {
		char full[4096];

		if (de->d_name[0] == '.' || !strncmp(de->d_name, "README", 6))
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		if (stat(full, &st) || !S_ISREG(st.st_mode))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		if (!names) {
			perror("realloc");
			exit(2);
		}
		names[n++] = strdup(full);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		add_input(names[i], valid);
		free(names[i]);
	}
	free(names);
	return 0;
}

static u8 *read_file(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	u8 *buf = malloc(cap);
	FILE *f = fopen(path, "rb");
	size_t got;

	if (!f || !buf) {
		free(buf);
		if (f)
			fclose(f);
		return NULL;
	}
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				break;
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Child: 0 pass, 1 fail (message on stdout); a crash kills it. */
static int run_one(const struct input *in)
{
	struct lmfz_result r;
	size_t len;
	u8 *data = read_file(in->path, &len);

	if (!data) {
		printf("# %s: cannot read\n", in->path);
		return 1;
	}
	if (engine >= 0) {
		int ret = lmfz_engine_run(engine, data, len);

		free(data);
		if (in->valid && ret) {
			printf("# %s: does not load: %d\n", in->path, ret);
			return 1;
		}
		return 0;
	}
	lmfz_run(data, len, &r);
	free(data);
	if (!in->valid)
		return 0;
	if (!r.complete || r.ret || !r.identity_ok || !r.nstate) {
		printf("# %s: not a complete edu stream: ret %d, complete %d, %u records, identity %s, %u STATE\n",
		       in->path, r.ret, r.complete, r.nrecords,
		       r.identity_ok ? "ok" : "rejected", r.nstate);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	size_t i, failed = 0;
	bool nofork = false;
	long extra = 0;
	int a, npaths = 0;

	for (a = 1; a < argc; a++) {
		bool valid;

		if (!strcmp(argv[a], "--nofork")) {
			nofork = true;
			continue;
		}
		if (!strcmp(argv[a], "--engine") && a + 1 < argc) {
			a++;
			if (!strcmp(argv[a], "edu"))
				engine = LMFZ_ENGINE_EDU;
			else if (!strcmp(argv[a], "bochs"))
				engine = LMFZ_ENGINE_BOCHS;
			else if (!strcmp(argv[a], "igbvf"))
				engine = LMFZ_ENGINE_IGBVF;
			else
				goto usage;
			continue;
		}
		if (!strcmp(argv[a], "--extra") && a + 1 < argc) {
			extra = strtol(argv[++a], NULL, 10);
			if (extra < 0)
				goto usage;
			continue;
		}
		if (!strcmp(argv[a], "--valid"))
			valid = true;
		else if (!strcmp(argv[a], "--nocrash"))
			valid = false;
		else
			goto usage;
		if (++a == argc)
			goto usage;
		if (add_path(argv[a], valid))
			return 2;
		npaths++;
	}
	if (!npaths)
		goto usage;

	printf("TAP version 13\n1..%zu\n", ninputs + (size_t)extra);
	fflush(stdout);
	for (i = 0; i < ninputs; i++) {
		const struct input *in = &inputs[i];
		int st = 0;
		pid_t pid;

		if (nofork) {
			st = run_one(in);
			printf("%sok %zu %s\n", st ? "not " : "", i + 1, in->path);
			failed += !!st;
			continue;
		}
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (!pid) {
			int ret = run_one(in);

			fflush(stdout);
			_exit(ret);
		}
		if (waitpid(pid, &st, 0) < 0) {
			perror("waitpid");
			return 2;
		}
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			printf("ok %zu %s\n", i + 1, in->path);
		} else {
			failed++;
			if (WIFSIGNALED(st))
				printf("# %s: killed by signal %d\n", in->path,
				       WTERMSIG(st));
			else
				printf("# %s: exit status %d\n", in->path,
				       WEXITSTATUS(st));
			printf("not ok %zu %s\n", i + 1, in->path);
		}
		fflush(stdout);
	}
	printf("# %zu inputs, %zu failed\n", ninputs, failed);
	return failed ? 1 : 0;

usage:
	fprintf(stderr, "usage: %s [--nofork] [--extra N] [--engine edu|bochs|igbvf] [--valid PATH]... [--nocrash PATH]...\n",
		argv[0]);
	return 2;
}
