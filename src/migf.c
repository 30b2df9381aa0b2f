// SPDX-License-Identifier: GPL-2.0
/*
 * livemig data FD: one saving or resuming session of the migration
 * protocol, as an anonymous-inode stream file.
 *
 * Saving: the core frames the stream (header, IDENTITY, END) and the
 * engine fills in state records; read() hands bytes out in order.  In
 * PRE_COPY the end of the produced data is temporary (ENOMSG); once the
 * device is in STOP_COPY the stream is complete and the end permanent.
 *
 * Resuming: write() feeds an incremental parser in any segmentation; each
 * checksummed record is staged by the engine without touching the device,
 * and only RESUMING -> STOP, after the whole stream validated, loads it.
 *
 * The device holds a reference on the file while the session lasts; the
 * file holds a reference on the device, so an FD that outlives the
 * device's open, or its binding, only ever sees its own "disabled" flag.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/poll.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "migf.h"
#include "state.h"
#include "livemig_trace.h"

/*
 * Room for an engine's compat blob in the IDENTITY record: enough for a
 * display's EDID (a 128-byte base block and extension blocks) beside
 * the engine's own words.
 */
#define LIVEMIG_ID_BLOB_MAX	1024

/**
 * struct livemig_file - one data transfer session (a data FD)
 * @session: its slot in state.c (LIVEMIG_SLOT_SAVING or _RESUMING)
 * @filp: the anonymous-inode file handed to the user
 * @ld: the device; the file holds a reference on it (get_device()), so
 *	the memory stays valid even after the device is unbound
 * @saving: true for a saving session (read-only FD), false for resuming
 * @disabled: the session has ended (state change, close, reset): every
 *	further operation fails with -ENODEV
 * @precopy: saving: the device is in PRE_COPY or PRE_COPY_P2P (the FSM
 *	says so at open, and when it moves on to STOP_COPY)
 * @final: saving: the stream is complete (STOP_COPY); the end is permanent
 * @err: saving: sticky error that read() returns; resuming: unused
 * @rejected: resuming: the one log line for a rejected stream was printed
 * @wq: poll waiters
 * @read_mutex: saving: held by read() throughout, so that one read() at a
 *	time copies out of @buf with state_mutex dropped; taken before
 *	state_mutex, never under it
 * @buf: saving: bytes [@buf_start, @produced) of the stream
 * @buf_start: absolute stream offset of @buf[0]
 * @cap: size of @buf
 * @copying: saving: the buffer a read() copies from with state_mutex
 *	dropped, or NULL; while @buf is that buffer it is neither moved
 *	within nor freed (livemig_buf_drop())
 * @stale: saving: @copying, once replaced or dropped meanwhile; the
 *	read() frees it when its copy is done
 * @produced: saving: absolute count of bytes emitted
 * @consumed: saving: bytes read; resuming: bytes written
 * @initial_end: saving: absolute offset where the PRE_COPY initial data ends
 * @more: saving: the engine has more to emit for @more_phase
 * @more_phase: saving: the phase the engine is in the middle of
 * @spent: saving: budget the engine's ->save calls used so far, emitted
 *	and charged bytes (livemig_save_charge()); bounds one read's work
 * @parser: resuming: the stream parser
 * @payload: resuming: the parser's record buffer
 * @bounce: resuming: copy_from_user() staging, one page
 *
 * Locking: every field but @session, @filp, @ld, @saving, @wq and
 * @read_mutex (set when the session is created) is protected by
 * @ld->state_mutex.  FD
 * operations take it themselves; the reference the file holds keeps the
 * mutex alive.
 */
struct livemig_file {
	struct livemig_session session;
	struct file *filp;
	struct livemig_device *ld;
	bool saving;
	bool disabled;
	bool precopy;
	bool final;
	int err;
	bool rejected;
	wait_queue_head_t wq;
	struct mutex read_mutex;	/* see above: one read() at a time */
	u8 *buf;
	u64 buf_start;
	size_t cap;
	const u8 *copying;
	u8 *stale;
	u64 produced;
	u64 consumed;
	u64 initial_end;
	bool more;
	enum livemig_save_phase more_phase;
	u64 spent;
	struct lm_parser parser;
	u8 *payload;
	u8 *bounce;
};

/*
 * Bytes one ->save call may emit, or examine without emitting, before it
 * should return MORE.  A call holds state_mutex, which a read() drops
 * between calls, and a trapped register access waits for it (the
 * guest's VRAM faults do not: ->save holds memory_lock only for read):
 * 128 KiB is a few milliseconds of copying and hashing even on a KASAN
 * kernel under TCG.
 */
#define LIVEMIG_SAVE_BUDGET	(128 * 1024)

/*
 * About what one read() makes the engine do, in ->save calls of
 * LIVEMIG_SAVE_BUDGET with state_mutex dropped between them: enough
 * that a large user buffer is filled in few system calls, never a whole
 * VRAM in kernel memory.
 */
#define LIVEMIG_READ_BUDGET	(1024 * 1024)

/* What engines hold when they emit: the saving session and the call's start. */
struct livemig_save {
	struct livemig_file *migf;
	u64 start;
	u64 work;	/* work charged that emitted nothing, in bytes */
};

static const struct file_operations livemig_fops;

/* Is a read() copying out of @buf with state_mutex dropped? */
static bool livemig_buf_pinned(struct livemig_file *migf)
{
	return migf->buf && migf->buf == migf->copying;
}

/*
 * Let go of the saving buffer: freed, or left to the read() that copies
 * out of it (@stale); the caller sets @buf anew.
 */
static void livemig_buf_drop(struct livemig_file *migf)
{
	if (livemig_buf_pinned(migf))
		migf->stale = migf->buf;
	else
		kvfree(migf->buf);
}

/*
 * Make room for @len more bytes at the end of the saving buffer.  The
 * bytes already read are dropped, in place, unless a read() is copying
 * out of the buffer; then a new buffer takes the unread bytes instead.
 */
static int livemig_buf_reserve(struct livemig_file *migf, size_t len)
{
	size_t unread, cap;
	u8 *nbuf;

	lockdep_assert_held(&migf->ld->state_mutex);

	unread = migf->produced - migf->consumed;
	if (migf->consumed > migf->buf_start && !livemig_buf_pinned(migf)) {
		if (unread)
			memmove(migf->buf,
				migf->buf + (migf->consumed - migf->buf_start),
				unread);
		migf->buf_start = migf->consumed;
	}
	if (migf->produced - migf->buf_start + len <= migf->cap)
		return 0;

	cap = max_t(size_t, PAGE_SIZE, 2 * (unread + len));
	nbuf = kvmalloc(cap, GFP_KERNEL_ACCOUNT);
	if (!nbuf)
		return -ENOMEM;
	if (unread)
		memcpy(nbuf, migf->buf + (migf->consumed - migf->buf_start),
		       unread);
	livemig_buf_drop(migf);
	migf->buf = nbuf;
	migf->buf_start = migf->consumed;
	migf->cap = cap;
	return 0;
}

static u8 *livemig_buf_tail(struct livemig_file *migf)
{
	return migf->buf + (migf->produced - migf->buf_start);
}

static int livemig_append(struct livemig_file *migf, const void *data,
			  size_t len)
{
	int ret = livemig_buf_reserve(migf, len);

	if (ret)
		return ret;
	memcpy(livemig_buf_tail(migf), data, len);
	migf->produced += len;
	return 0;
}

/**
 * livemig_emit_begin() - reserve room for one record's payload
 * @s: the session, as handed to the engine's ->save
 * @len: payload length, at most the engine's max_record
 *
 * The engine fills the returned buffer (e.g. straight from a BAR) and
 * then calls livemig_emit_commit() with @len or less, when it learns
 * only while filling how much it has (e.g. a run of pages that ends at
 * the first one it does not send); nothing else may be emitted in
 * between.  A reservation that is never committed emits nothing.
 *
 * Return: where the payload goes, or NULL if memory ran out.
 */
u8 *livemig_emit_begin(struct livemig_save *s, u32 len)
{
	if (livemig_buf_reserve(s->migf, LM_REC_HDR_LEN + len))
		return NULL;
	return livemig_buf_tail(s->migf) + LM_REC_HDR_LEN;
}

/**
 * livemig_emit_commit() - frame and publish a payload from emit_begin
 * @s: the session
 * @type: record type (enum lm_rec_type)
 * @len: payload length, at most the one given to livemig_emit_begin()
 */
void livemig_emit_commit(struct livemig_save *s, u16 type, u32 len)
{
	struct livemig_file *migf = s->migf;
	u8 *hdr = livemig_buf_tail(migf);

	lm_encode_rec_hdr(hdr, type, hdr + LM_REC_HDR_LEN, len);
	migf->produced += LM_REC_HDR_LEN + len;
}

/**
 * livemig_emit() - append one record to a saving stream
 * @s: the session, as handed to the engine's ->save
 * @type: record type (enum lm_rec_type)
 * @payload: the record's payload
 * @len: its length, at most the engine's max_record
 *
 * Return: 0 or -ENOMEM.
 */
int livemig_emit(struct livemig_save *s, u16 type, const void *payload,
		 u32 len)
{
	u8 *p = livemig_emit_begin(s, len);

	if (!p)
		return -ENOMEM;
	memcpy(p, payload, len);
	livemig_emit_commit(s, type, len);
	return 0;
}

/**
 * livemig_save_charge() - count work that emitted nothing against the budget
 * @s: the session
 * @bytes: device state examined without emitting it (a zero page that
 *	joins a ZERO range)
 *
 * Without it a ->save call that finds nothing to emit would run through
 * all of the device's state at once, under the state lock.
 */
void livemig_save_charge(struct livemig_save *s, u32 bytes)
{
	s->work += bytes;
}

/**
 * livemig_save_full() - has this ->save call used its budget?
 * @s: the session
 *
 * Return: true once the call emitted, or charged with
 * livemig_save_charge(), LIVEMIG_SAVE_BUDGET bytes or more; the engine
 * should then return %LIVEMIG_SAVE_MORE.
 */
bool livemig_save_full(struct livemig_save *s)
{
	return s->migf->produced - s->start + s->work >= LIVEMIG_SAVE_BUDGET;
}

static struct livemig_file *livemig_session_file(struct livemig_session *s)
{
	return s ? container_of(s, struct livemig_file, session) : NULL;
}

/* The open saving or resuming session of @ld, or NULL; state_mutex held. */
static struct livemig_file *livemig_open_file(struct livemig_device *ld,
					      bool saving)
{
	return livemig_session_file(livemig_slot(ld, saving ?
						 LIVEMIG_SLOT_SAVING :
						 LIVEMIG_SLOT_RESUMING));
}

/**
 * livemig_migf_show() - the open sessions, for debugfs
 * @ld: the device, state_mutex held
 * @m: where to print; one line per direction
 */
void livemig_migf_show(struct livemig_device *ld, struct seq_file *m)
{
	struct livemig_file *migf;

	lockdep_assert_held(&ld->state_mutex);
	migf = livemig_open_file(ld, true);
	if (migf)
		seq_printf(m, "saving: produced %llu consumed %llu precopy %d final %d more %d err %d\n",
			   migf->produced, migf->consumed, migf->precopy,
			   migf->final, migf->more, migf->err);
	else
		seq_puts(m, "saving: none\n");
	migf = livemig_open_file(ld, false);
	if (migf)
		seq_printf(m, "resuming: consumed %llu rejected %d\n",
			   migf->consumed, migf->rejected);
	else
		seq_puts(m, "resuming: none\n");
}

/**
 * livemig_stop_copy_size() - bytes left to read for a STOP_COPY stream
 * @ld: the device, state_mutex held
 *
 * Without a saving session (or with a failed one): an upper bound of a
 * whole stream.  With one open, what is still to be read of it: a device
 * whose state PRE_COPY already moved then reports only the remainder, so
 * that a user weighing stop-copy size against its downtime budget (QEMU
 * does, on every iteration) sees the pre-copy pay off.
 *
 * Return: the estimate in bytes.
 */
size_t livemig_stop_copy_size(struct livemig_device *ld)
{
	struct livemig_file *migf = livemig_open_file(ld, true);
	size_t engine = ld->engine->state_size(ld);

	if (migf && !migf->err)
		return migf->produced - migf->consumed + engine +
		       (migf->final ? 0 : LM_REC_HDR_LEN);
	return LM_HDR_LEN + LM_REC_HDR_LEN + LM_IDENTITY_LEN +
	       LIVEMIG_ID_BLOB_MAX + engine + LM_REC_HDR_LEN;
}

/**
 * livemig_save_locked() - have the engine emit state into a session
 * @migf: a saving session, state_mutex held
 * @phase: what to emit; LIVEMIG_SAVE_FINAL also closes the stream
 *
 * One ->save call, at most about LIVEMIG_SAVE_BUDGET bytes; if the engine
 * has more, @migf->more asks livemig_fill_locked() to go on later.  An
 * error sticks to the FD: read() returns it from then on.
 *
 * Return: 0 or the error.
 */
static int livemig_save_locked(struct livemig_file *migf,
			       enum livemig_save_phase phase)
{
	struct livemig_device *ld = migf->ld;
	struct livemig_save s = { .migf = migf, .start = migf->produced };
	int ret;

	lockdep_assert_held(&migf->ld->state_mutex);

	if (migf->err || migf->final)
		return migf->err;
	ret = livemig_hw_call_shared(ld, "save",
				     ld->engine->save(ld, &s, phase));
	migf->spent += migf->produced - s.start + s.work;
	migf->more = ret == LIVEMIG_SAVE_MORE;
	migf->more_phase = phase;
	if (migf->more)
		ret = 0;
	if (phase == LIVEMIG_SAVE_INITIAL)
		migf->initial_end = migf->produced;
	if (!ret && !migf->more && phase == LIVEMIG_SAVE_FINAL) {
		ret = livemig_emit(&s, LM_REC_END, NULL, 0);
		migf->final = !ret;
	}
	if (ret)
		migf->err = ret;
	wake_up_interruptible(&migf->wq);
	return ret;
}

/*
 * May read() go on: the session is open, has not failed, and the engine
 * can save now (->save_check, called on every read).
 */
static int livemig_read_check(struct livemig_file *migf)
{
	struct livemig_device *ld = migf->ld;
	int ret;

	lockdep_assert_held(&ld->state_mutex);

	if (migf->disabled)
		return -ENODEV;
	if (migf->err)
		return migf->err;
	if (!ld->engine->save_check)
		return 0;
	ret = ld->engine->save_check(ld);
	if (ret)
		livemig_failed(ld, "save_check", ret);
	return ret;
}

/*
 * Let the engine go on until @want bytes are unread or it has no more,
 * for about LIVEMIG_READ_BUDGET of work per call of this function: work
 * that emits nothing (zero pages, hashing) counts too.  Past that budget
 * it stops once anything is unread; while nothing is, it goes on until
 * the engine produces something or owes nothing.  An empty read() must
 * not end the stream while the engine still owes data: not in STOP_COPY
 * (0 would be its permanent end) and not in PRE_COPY either, whose
 * temporary end (ENOMSG) the uAPI places where PRECOPY_INFO reads zero.
 * The work is bounded by the engine's state: a phase in progress runs to
 * its end.
 *
 * Between ->save calls (each LIVEMIG_SAVE_BUDGET, memory_lock dropped
 * after it) state_mutex is dropped too, so that the user's trapped
 * register accesses, which take it, wait for one call at most, not for a
 * whole read().  What read() checked before it started is checked again
 * after that: the session may have ended meanwhile (a state change, a
 * reset handled by livemig_unlock()), or a trapped access may have left
 * the engine unable to save.
 *
 * Return: 0, -ENODEV for an ended session, or the engine's ->save_check
 * error.
 */
static int livemig_fill_locked(struct livemig_file *migf, size_t want)
{
	struct livemig_device *ld = migf->ld;
	u64 start = migf->spent;
	int ret;

	lockdep_assert_held(&ld->state_mutex);

	while (migf->more && !migf->err &&
	       migf->produced - migf->consumed < want) {
		if (migf->spent - start >= LIVEMIG_READ_BUDGET &&
		    migf->produced > migf->consumed)
			break;
		if (migf->spent != start) {
			livemig_unlock(ld);
			cond_resched();
			livemig_lock(ld);
			ret = livemig_read_check(migf);
			if (ret)
				return ret;
		}
		livemig_save_locked(migf, migf->more_phase);
	}
	return 0;
}

static int livemig_emit_identity(struct livemig_file *migf)
{
	struct livemig_device *ld = migf->ld;
	struct pci_dev *pdev = ld->core.pdev;
	struct livemig_save s = { .migf = migf };
	struct lm_identity id = {
		.vendor = pdev->vendor,
		.device = pdev->device,
		.subsys_vendor = pdev->subsystem_vendor,
		.subsys_device = pdev->subsystem_device,
		.class_rev = pdev->class << 8 | pdev->revision,
		.engine_version = ld->engine->version,
	};
	u8 *payload;
	int ret;

	payload = kzalloc(LM_IDENTITY_LEN + LIVEMIG_ID_BLOB_MAX, GFP_KERNEL);
	if (!payload)
		return -ENOMEM;
	ret = livemig_hw_call(ld, "identity",
			      ld->engine->identity(ld, payload + LM_IDENTITY_LEN,
						   LIVEMIG_ID_BLOB_MAX));
	if (ret < 0)
		goto out;
	/* An engine that wrote past @max has a bug; never emit past it. */
	if (WARN_ON_ONCE(ret > LIVEMIG_ID_BLOB_MAX)) {
		ret = -EIO;
		goto out;
	}
	id.blob_len = ret;
	lm_encode_identity(payload, &id);
	ret = livemig_emit(&s, LM_REC_IDENTITY, payload,
			   LM_IDENTITY_LEN + id.blob_len);
out:
	kfree(payload);
	return ret;
}

/**
 * livemig_save_start_locked() - produce the opening of a saving stream
 * @migf: a new saving session, state_mutex held
 * @precopy: the session starts in PRE_COPY (else in STOP_COPY)
 *
 * PRE_COPY: header, IDENTITY and the engine's initial snapshot, which
 * together are the "initial bytes" of VFIO_MIG_GET_PRECOPY_INFO.
 * STOP_COPY: the whole stream.
 *
 * Return: 0 or the error that now sticks to the FD.
 */
static int livemig_save_start_locked(struct livemig_file *migf,
				     bool precopy)
{
	u8 hdr[LM_HDR_LEN];
	int ret;

	lockdep_assert_held(&migf->ld->state_mutex);

	lm_encode_header(hdr, migf->ld->engine->engine_id);
	ret = livemig_append(migf, hdr, sizeof(hdr));
	if (!ret)
		ret = livemig_emit_identity(migf);
	if (ret) {
		migf->err = ret;
		return ret;
	}
	return livemig_save_locked(migf, precopy ? LIVEMIG_SAVE_INITIAL :
					 LIVEMIG_SAVE_FINAL);
}

static void livemig_file_end(struct livemig_session *s);

/* A new session and its FD, not yet in its slot; state_mutex held. */
static struct livemig_file *livemig_file_create(struct livemig_device *ld,
						bool saving)
{
	const struct livemig_engine *e = ld->engine;
	struct livemig_file *migf;
	int ret = -ENOMEM;

	migf = kzalloc(sizeof(*migf), GFP_KERNEL_ACCOUNT);
	if (!migf)
		return ERR_PTR(-ENOMEM);
	migf->session.end = livemig_file_end;
	migf->ld = ld;
	migf->saving = saving;
	init_waitqueue_head(&migf->wq);
	mutex_init(&migf->read_mutex);
	if (!saving) {
		migf->payload = kvmalloc(e->max_record, GFP_KERNEL_ACCOUNT);
		migf->bounce = (u8 *)__get_free_page(GFP_KERNEL_ACCOUNT);
		if (!migf->payload || !migf->bounce)
			goto err_free;
		lm_parser_init(&migf->parser, e->engine_id, migf->payload,
			       e->max_record);
	}
	migf->filp = anon_inode_getfile("livemig_mig", &livemig_fops, migf,
					saving ? O_RDONLY : O_WRONLY);
	if (IS_ERR(migf->filp)) {
		ret = PTR_ERR(migf->filp);
		goto err_free;
	}
	stream_open(migf->filp->f_inode, migf->filp);
	get_device(&ld->core.vdev.device);
	return migf;

err_free:
	free_page((unsigned long)migf->bounce);
	kvfree(migf->payload);
	mutex_destroy(&migf->read_mutex);
	kfree(migf);
	return ERR_PTR(ret);
}

static void livemig_file_free_data(struct livemig_file *migf)
{
	livemig_buf_drop(migf);
	migf->buf = NULL;
	migf->cap = 0;
	kvfree(migf->payload);
	migf->payload = NULL;
	free_page((unsigned long)migf->bounce);
	migf->bounce = NULL;
}

/*
 * The session's ->end (state.c took it out of its slot, state_mutex held):
 * further I/O on the FD fails with -ENODEV and poll reports an error; the
 * engine ends its side; the device's reference on the file is dropped.
 */
static void livemig_file_end(struct livemig_session *s)
{
	struct livemig_file *migf = livemig_session_file(s);
	struct livemig_device *ld = migf->ld;

	lockdep_assert_held(&ld->state_mutex);

	migf->disabled = true;
	trace_livemig_session_end(ld->core.pdev, migf->saving, migf->produced,
				  migf->consumed, migf->err);
	livemig_file_free_data(migf);
	if (migf->saving && ld->engine->save_end)
		ld->engine->save_end(ld);
	if (!migf->saving && ld->engine->resume_end)
		ld->engine->resume_end(ld);
	livemig_hw_release_decode(ld);
	wake_up_interruptible(&migf->wq);
	fput(migf->filp);
}

static ssize_t livemig_file_read(struct file *filp, char __user *buf,
				 size_t len, loff_t *pos)
{
	struct livemig_file *migf = filp->private_data;
	struct livemig_device *ld = migf->ld;
	size_t avail, want, left;
	u8 *stale = NULL;
	const u8 *from;
	ssize_t ret;

	mutex_lock(&migf->read_mutex);
	livemig_lock(ld);
	ret = livemig_read_check(migf);
	if (ret)
		goto out;

	/*
	 * Produce for at most one read budget per call, however long the
	 * user's buffer: a huge read() must not pull all of the device's
	 * state into kernel memory at once (and keep it there if the copy
	 * to the user then faults).
	 */
	want = min_t(size_t, len, LIVEMIG_READ_BUDGET);
	ret = livemig_fill_locked(migf, want);
	if (ret)
		goto out;
	/*
	 * At the end of what was produced: look for changes first.  ENOMSG
	 * only once a DIRTY pass started here ran to its end with nothing
	 * to send.
	 */
	if (migf->produced == migf->consumed && !migf->more &&
	    migf->precopy) {
		livemig_save_locked(migf, LIVEMIG_SAVE_DIRTY);
		ret = livemig_fill_locked(migf, want);
		if (ret)
			goto out;
	}
	ret = migf->err;
	if (ret)
		goto out;
	avail = migf->produced - migf->consumed;
	if (!avail) {
		/* Temporary end in PRE_COPY, permanent once complete. */
		ret = migf->final ? 0 : -ENOMSG;
		goto out;
	}
	len = min(len, avail);

	/*
	 * Copy without state_mutex: the user's buffer may fault, and a
	 * trapped register access of the guest waits for the mutex.  The
	 * bytes stay where they are meanwhile (@copying), and only a read()
	 * consumes them; whatever ended or replaced the buffer in between
	 * left it to be freed here.
	 */
	from = migf->buf + (migf->consumed - migf->buf_start);
	migf->copying = migf->buf;
	livemig_unlock(ld);
	left = copy_to_user(buf, from, len);
	livemig_lock(ld);
	migf->copying = NULL;
	stale = migf->stale;
	migf->stale = NULL;
	if (migf->disabled) {
		ret = -ENODEV;
	} else if (left) {
		ret = -EFAULT;
	} else {
		migf->consumed += len;
		ret = len;
	}
out:
	livemig_unlock(ld);
	mutex_unlock(&migf->read_mutex);
	kvfree(stale);
	return ret;
}

/* A rejected stream: the engine undoes what it applied of it. */
static void livemig_revert(struct livemig_device *ld)
{
	if (ld->engine->revert)
		livemig_hw_call(ld, "revert", (ld->engine->revert(ld), 0));
}

static void livemig_reject(struct livemig_file *migf, int err)
{
	if (migf->rejected)
		return;
	migf->rejected = true;
	livemig_revert(migf->ld);
	livemig_note_failure(migf->ld, "resume stream", err);
	dev_warn_ratelimited(&migf->ld->core.pdev->dev,
			     "livemig: resume stream rejected near byte %llu: %s\n",
			     migf->consumed,
			     err == -LM_EINCOMPAT ? "incompatible source" :
			     err == -LM_ECORRUPT ? "corrupt or truncated" :
			     "cannot stage");
}

static int livemig_check_identity(struct livemig_device *ld,
				  const u8 *payload, u32 len)
{
	const struct livemig_engine *e = ld->engine;
	struct pci_dev *pdev = ld->core.pdev;
	struct lm_identity id;
	int ret;

	ret = lm_decode_identity(payload, len, &id);
	if (ret)
		return ret;
	if (id.vendor != pdev->vendor || id.device != pdev->device ||
	    id.subsys_vendor != pdev->subsystem_vendor ||
	    id.subsys_device != pdev->subsystem_device ||
	    id.class_rev != (pdev->class << 8 | pdev->revision) ||
	    id.engine_version != e->version)
		return -LM_EINCOMPAT;
	if (!e->check_identity)
		return 0;
	return e->check_identity(ld, &id, payload + LM_IDENTITY_LEN,
				 id.blob_len);
}

static int livemig_stage_record(void *ctx, u16 type, const u8 *payload,
				u32 len)
{
	struct livemig_device *ld = ctx;
	const struct livemig_engine *e = ld->engine;
	int ret;

	if (type == LM_REC_IDENTITY)
		return livemig_check_identity(ld, payload, len);
	ret = e->stage(ld, type, payload, len);
	if (!ret && e->preflight)
		ret = livemig_hw_call(ld, "preflight", e->preflight(ld, type));
	if (!ret && e->apply)
		ret = livemig_hw_call(ld, "apply",
				      e->apply(ld, type, payload, len));
	return ret;
}

static ssize_t livemig_file_write(struct file *filp, const char __user *buf,
				  size_t len, loff_t *pos)
{
	struct livemig_file *migf = filp->private_data;
	struct livemig_device *ld = migf->ld;
	size_t done = 0, n;
	ssize_t ret = 0;

	livemig_lock(ld);
	if (migf->disabled) {
		ret = -ENODEV;
		goto out;
	}
	while (done < len) {
		n = min_t(size_t, len - done, PAGE_SIZE);
		if (copy_from_user(migf->bounce, buf + done, n)) {
			ret = -EFAULT;
			break;
		}
		ret = lm_parser_feed(&migf->parser, migf->bounce, n,
				     livemig_stage_record, ld);
		if (ret) {
			livemig_reject(migf, ret);
			break;
		}
		done += n;
		migf->consumed += n;
	}
out:
	livemig_unlock(ld);
	/*
	 * The chunks before a failing one were taken by the parser: say so,
	 * as write(2) does, or a retry hands them over twice.  A parser
	 * failure is sticky, so the next write() reports it.
	 */
	return done ? done : ret;
}

/**
 * livemig_resume_finish_locked() - RESUMING -> STOP: load what was staged
 * @migf: the resuming session, state_mutex held
 *
 * Return: 0 once the engine loaded a complete, valid stream; else the
 * error (the caller puts the device in ERROR).
 */
static int livemig_resume_finish_locked(struct livemig_file *migf)
{
	struct livemig_device *ld = migf->ld;
	int ret;

	lockdep_assert_held(&migf->ld->state_mutex);

	ret = lm_parser_finish(&migf->parser);
	if (ret) {
		livemig_reject(migf, ret);
		return ret;
	}
	ret = livemig_hw_call(ld, "load", ld->engine->load(ld));
	if (ret)
		livemig_revert(ld);
	return ret;
}

/*
 * VFIO_MIG_GET_PRECOPY_INFO.  The output flags are left as
 * livemig_precopy_info_args() set them: the caller's value before the
 * PRECOPY_INFOv2 opt-in (reserved), 0 after it.  VFIO_PRECOPY_INFO_REINIT
 * is never reported: no engine produces new initial data once PRE_COPY
 * has started (see include/livemig/engine.h).
 */
static long livemig_file_ioctl(struct file *filp, unsigned int cmd,
			       unsigned long arg)
{
	struct livemig_file *migf = filp->private_data;
	struct livemig_device *ld = migf->ld;
	struct vfio_precopy_info info;
	u64 unread, unread_initial, initial = 0, dirty = 0;
	long ret;

	ret = livemig_precopy_info_args(&ld->core.vdev, cmd, arg, &info);
	if (ret)
		return ret;

	livemig_lock(ld);
	if (migf->disabled || !migf->precopy) {
		ret = -EINVAL;
		goto out;
	}
	/*
	 * Changes since the last snapshot are dirty bytes: counted by the
	 * engine as they happen, or found by a DIRTY save (which emits them).
	 */
	if (!ld->engine->pending || !ld->engine->pending(ld, &initial, &dirty)) {
		if (!migf->more)
			livemig_save_locked(migf, LIVEMIG_SAVE_DIRTY);
		initial = 0;
		dirty = 0;
		if (ld->engine->pending)
			ld->engine->pending(ld, &initial, &dirty);
	}
	unread = migf->produced - migf->consumed;
	unread_initial = migf->initial_end > migf->consumed ?
			 migf->initial_end - migf->consumed : 0;
	info.initial_bytes = unread_initial + initial;
	info.dirty_bytes = unread - unread_initial + dirty;
	trace_livemig_precopy_info(ld->core.pdev, info.initial_bytes,
				   info.dirty_bytes);
out:
	livemig_unlock(ld);
	if (!ret && copy_to_user((void __user *)arg, &info,
				 offsetofend(struct vfio_precopy_info,
					     dirty_bytes)))
		ret = -EFAULT;
	return ret;
}

static __poll_t livemig_file_poll(struct file *filp,
				  struct poll_table_struct *wait)
{
	struct livemig_file *migf = filp->private_data;
	struct livemig_device *ld = migf->ld;
	__poll_t mask = 0;

	poll_wait(filp, &migf->wq, wait);
	livemig_lock(ld);
	if (migf->disabled)
		mask = EPOLLERR;
	else if (!migf->saving)
		mask = EPOLLOUT | EPOLLWRNORM;
	else if (migf->err)
		mask = EPOLLIN | EPOLLRDNORM | EPOLLERR;
	else if (migf->produced > migf->consumed || migf->more || migf->final)
		/* A read() returns data now, produces more, or ends. */
		mask = EPOLLIN | EPOLLRDNORM;
	livemig_unlock(ld);
	return mask;
}

static int livemig_file_release(struct inode *inode, struct file *filp)
{
	struct livemig_file *migf = filp->private_data;
	struct livemig_device *ld = migf->ld;

	/* Sessions hold a file reference: this one has ended already. */
	livemig_lock(ld);
	livemig_file_free_data(migf);
	livemig_unlock(ld);
	put_device(&ld->core.vdev.device);
	mutex_destroy(&migf->read_mutex);
	kfree(migf);
	return 0;
}

static const struct file_operations livemig_fops = {
	.owner = THIS_MODULE,
	.read = livemig_file_read,
	.write = livemig_file_write,
	.poll = livemig_file_poll,
	.unlocked_ioctl = livemig_file_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = livemig_file_release,
};

/*
 * Open a session in its slot and have the engine begin its side; on
 * failure the session ends again (its FD is released with the last
 * reference).
 */
static struct livemig_file *livemig_file_open(struct livemig_device *ld,
					      bool saving)
{
	enum livemig_slot slot = saving ? LIVEMIG_SLOT_SAVING :
					  LIVEMIG_SLOT_RESUMING;
	const struct livemig_engine *e = ld->engine;
	struct livemig_file *migf;
	int ret = 0;

	migf = livemig_file_create(ld, saving);
	if (IS_ERR(migf))
		return migf;
	livemig_slot_set(ld, slot, &migf->session);
	if (saving && e->save_begin)
		ret = e->save_begin(ld);
	else if (!saving && e->resume_begin)
		ret = e->resume_begin(ld);
	if (ret) {
		livemig_failed(ld, saving ? "save_begin" : "resume_begin", ret);
		livemig_end_locked(ld, slot);
		return ERR_PTR(ret);
	}
	return migf;
}

/**
 * livemig_saving_open() - the arc into PRE_COPY(_P2P) or STOP_COPY
 * @ld: the device, state_mutex held, with no saving session open
 * @precopy: the arc goes into PRE_COPY or PRE_COPY_P2P (else STOP_COPY)
 *
 * Opens the saving session and produces the start of the stream: in
 * PRE_COPY the initial data, in STOP_COPY all of it.  A failure to
 * produce sticks to the FD (read() returns it); the arc still succeeds.
 *
 * Return: the FD for the user (a reference of its own), or an ERR_PTR.
 */
struct file *livemig_saving_open(struct livemig_device *ld, bool precopy)
{
	struct livemig_file *migf = livemig_file_open(ld, true);

	if (IS_ERR(migf))
		return ERR_CAST(migf);
	migf->precopy = precopy;
	livemig_save_start_locked(migf, precopy);
	get_file(migf->filp);
	return migf->filp;
}

/**
 * livemig_saving_finish() - PRE_COPY_P2P -> STOP_COPY, after the stop
 * @ld: the device, state_mutex held, the engine's stop done
 *
 * The saving session, if the user still has one, leaves PRE_COPY: the
 * rest of the stream follows on the same FD and then ends for good.
 *
 * Return: 0; a failure to produce sticks to the FD.
 */
int livemig_saving_finish(struct livemig_device *ld)
{
	struct livemig_file *migf = livemig_open_file(ld, true);

	if (migf) {
		migf->precopy = false;
		livemig_save_locked(migf, LIVEMIG_SAVE_FINAL);
	}
	return 0;
}

/**
 * livemig_resuming_open() - the arc STOP -> RESUMING
 * @ld: the device, state_mutex held, with no resuming session open
 *
 * Return: the FD for the user (a reference of its own), or an ERR_PTR.
 */
struct file *livemig_resuming_open(struct livemig_device *ld)
{
	struct livemig_file *migf = livemig_file_open(ld, false);

	if (IS_ERR(migf))
		return ERR_CAST(migf);
	get_file(migf->filp);
	return migf->filp;
}

/**
 * livemig_resuming_load() - the arc RESUMING -> STOP
 * @ld: the device, state_mutex held
 *
 * Loads the device from what the resuming session staged, if the stream
 * it was given is complete and valid, and ends the session either way.
 *
 * Return: 0 once loaded; -EINVAL without a session; else the error (the
 * FSM then puts the device in ERROR).
 */
int livemig_resuming_load(struct livemig_device *ld)
{
	struct livemig_file *migf = livemig_open_file(ld, false);
	int ret;

	if (!migf)
		return -EINVAL;
	ret = livemig_resume_finish_locked(migf);
	livemig_end_locked(ld, LIVEMIG_SLOT_RESUMING);
	return ret;
}
