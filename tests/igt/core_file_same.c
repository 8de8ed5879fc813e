// SPDX-License-Identifier: MIT
/*
 * Copyright © 2026 The DRM_IOCTL_FILE_SAME authors
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include "igt.h"
#include "igt_sysfs.h"
#include "igt_vgem.h"
#include "dmabuf_sync_file.h"

/**
 * TEST: core file same
 * Description: Tests the DRM_IOCTL_FILE_SAME ioctl, which tells whether two
 *		file descriptors share the same open file, the same DRM client
 *		(struct drm_file) or the same DRM device.
 * Category: Core
 * Mega feature: General Core features
 * Sub-category: DRM
 * Functionality: file descriptor identity
 * Feature: core
 * Test category: uapi
 *
 * SUBTEST: self
 * Description: Compare a DRM file descriptor with itself.
 *
 * SUBTEST: dup
 * Description: Compare a DRM file descriptor with its dup(); both refer to
 *		the same open file.
 *
 * SUBTEST: reopen
 * Description: Compare two independent opens of the same card node; only the
 *		device is shared.
 *
 * SUBTEST: card-vs-render
 * Description: Compare the card node and the render node of one vgem device;
 *		only the device is shared.
 *
 * SUBTEST: proc-reopen
 * Description: Compare a DRM file descriptor with a reopen of it through
 *		/proc/self/fd; a new open file and a new client of the same
 *		device.
 *
 * SUBTEST: scm-rights
 * Description: Pass a DRM file descriptor over a unix socket with SCM_RIGHTS
 *		and compare the received descriptor with the original one.
 *
 * SUBTEST: other-device
 * Description: Compare file descriptors of two different DRM devices (vkms
 *		and vgem); nothing is shared.
 *
 * SUBTEST: other-fd-kinds
 * Description: Compare a DRM file descriptor with descriptors that are not
 *		DRM files (dma-buf, sync_file, eventfd, regular file, another
 *		character device); the ioctl succeeds and reports nothing in
 *		common.
 *
 * SUBTEST: o-path
 * Description: Check that a file descriptor opened with O_PATH, of the DRM
 *		node itself or of another file, is rejected with EBADF, while
 *		a real open of the same node is compared.
 *
 * SUBTEST: no-pid-update
 * Description: Check that comparing does not make the caller the owner of
 *		the DRM client: another process that received the file
 *		descriptor over SCM_RIGHTS compares it and the debugfs client
 *		list keeps showing the opener, until that process issues
 *		another DRM ioctl, which makes it the owner.
 *
 * SUBTEST: symmetric
 * Description: Check that the result for (a, b) equals the result for
 *		(b, a) over a set of related and unrelated DRM file descriptors.
 *
 * SUBTEST: invalid-fd
 * Description: Check that a closed or negative file descriptor is rejected
 *		with EBADF.
 *
 * SUBTEST: invalid-flags
 * Description: Check that any non-zero flags are rejected with EINVAL.
 *
 * SUBTEST: bad-pointer
 * Description: Check that an unreadable or unwritable argument is rejected
 *		with EFAULT.
 */

IGT_TEST_DESCRIPTION("Tests the DRM_IOCTL_FILE_SAME ioctl, which tells whether "
		     "two file descriptors share the same open file, the same "
		     "DRM client or the same DRM device.");

/*
 * Local copy of the new uAPI from include/uapi/drm/drm.h, until
 * include/drm-uapi/drm.h carries it; this goes away with the next
 * drm-uapi header sync.
 */
#ifndef DRM_IOCTL_FILE_SAME
struct drm_file_same {
	__s32 fd;
	__u32 flags;
	__u64 result;
};

#define DRM_FILE_SAME_FILE	(1ULL << 0)
#define DRM_FILE_SAME_CLIENT	(1ULL << 1)
#define DRM_FILE_SAME_DEVICE	(1ULL << 2)

#define DRM_IOCTL_FILE_SAME	DRM_IOWR(0xD3, struct drm_file_same)
#endif

#define SAME_ALL (DRM_FILE_SAME_FILE | DRM_FILE_SAME_CLIENT | DRM_FILE_SAME_DEVICE)

/* Written into .result before each call, to catch a kernel that leaves it. */
#define RESULT_POISON 0xdeadbeefdeadbeefull

static int __file_same(int fd, int other, uint32_t flags, uint64_t *result)
{
	struct drm_file_same arg = {
		.fd = other,
		.flags = flags,
		.result = RESULT_POISON,
	};
	int err = 0;

	if (igt_ioctl(fd, DRM_IOCTL_FILE_SAME, &arg)) {
		err = -errno;
		igt_assume(err);
	} else if (result) {
		*result = arg.result;
	}

	errno = 0;
	return err;
}

static uint64_t file_same(int fd, int other)
{
	uint64_t result = RESULT_POISON;

	igt_assert_eq(__file_same(fd, other, 0, &result), 0);
	igt_assert_f(!(result & ~SAME_ALL),
		     "unknown bits in result 0x%llx\n", (unsigned long long)result);

	return result;
}

/* Asserts the exact result for (a, b) and for (b, a). */
static void assert_same(int a, int b, uint64_t expected)
{
	igt_assert_eq_u64(file_same(a, b), expected);
	igt_assert_eq_u64(file_same(b, a), expected);
}

static bool has_file_same(int fd)
{
	/* An older kernel rejects the unknown DRM core ioctl with EINVAL. */
	return __file_same(fd, fd, 0, NULL) != -EINVAL;
}

static int vgem_dmabuf(int fd)
{
	struct vgem_bo bo = {
		.width = 1024,
		.height = 1,
		.bpp = 32,
	};
	int dmabuf;

	vgem_create(fd, &bo);
	dmabuf = prime_handle_to_fd(fd, bo.handle);
	/* The dma-buf holds its own reference on the object. */
	gem_close(fd, bo.handle);

	return dmabuf;
}

static void send_fd(int sock, int fd)
{
	char data = 'x';
	struct iovec iov = {
		.iov_base = &data,
		.iov_len = sizeof(data),
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cmsg;

	memset(&u, 0, sizeof(u));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));

	igt_assert_eq(sendmsg(sock, &msg, 0), sizeof(data));
}

static int recv_fd(int sock)
{
	char data;
	struct iovec iov = {
		.iov_base = &data,
		.iov_len = sizeof(data),
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cmsg;
	int fd;

	igt_assert_eq(recvmsg(sock, &msg, MSG_CMSG_CLOEXEC), sizeof(data));

	cmsg = CMSG_FIRSTHDR(&msg);
	igt_assert(cmsg);
	igt_assert_eq(cmsg->cmsg_level, SOL_SOCKET);
	igt_assert_eq(cmsg->cmsg_type, SCM_RIGHTS);
	igt_assert_eq(cmsg->cmsg_len, CMSG_LEN(sizeof(int)));
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	igt_assert_fd(fd);

	return fd;
}

static void test_self(int fd)
{
	igt_assert_eq_u64(file_same(fd, fd), SAME_ALL);
}

static void test_dup(int fd)
{
	int fd2 = dup(fd);

	igt_assert_fd(fd2);
	assert_same(fd, fd2, SAME_ALL);
	close(fd2);
}

static void test_reopen(int fd)
{
	int fd2 = drm_open_driver(DRIVER_VGEM);

	assert_same(fd, fd2, DRM_FILE_SAME_DEVICE);
	drm_close_driver(fd2);
}

static void test_card_vs_render(int fd)
{
	int render, render2;

	/*
	 * vgem registers a single device, so its card node and its render
	 * node belong to the same drm_device.
	 */
	igt_require(drmGetNodeTypeFromFd(fd) == DRM_NODE_PRIMARY);
	render = drm_open_driver_render(DRIVER_VGEM);
	if (drmGetNodeTypeFromFd(render) != DRM_NODE_RENDER) {
		/* drm_open_driver_render() fell back to the card node. */
		drm_close_driver(render);
		igt_skip("vgem exposes no render node\n");
	}

	assert_same(fd, render, DRM_FILE_SAME_DEVICE);
	igt_assert_eq_u64(file_same(render, render), SAME_ALL);

	render2 = drm_reopen_driver(render);
	assert_same(render, render2, DRM_FILE_SAME_DEVICE);
	assert_same(fd, render2, DRM_FILE_SAME_DEVICE);

	drm_close_driver(render2);
	drm_close_driver(render);
}

static void test_proc_reopen(int fd)
{
	int fd2 = drm_reopen_driver(fd);

	assert_same(fd, fd2, DRM_FILE_SAME_DEVICE);
	drm_close_driver(fd2);
}

static void test_scm_rights(int fd)
{
	int sv[2], fd2;

	igt_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);

	send_fd(sv[0], fd);
	fd2 = recv_fd(sv[1]);
	igt_assert_neq(fd2, fd);

	assert_same(fd, fd2, SAME_ALL);

	close(fd2);
	close(sv[1]);
	close(sv[0]);
}

static void test_other_device(int fd)
{
	int vkms = drm_open_driver(DRIVER_VKMS);

	assert_same(fd, vkms, 0);
	drm_close_driver(vkms);
}

static void test_other_fd_kinds(int fd)
{
	int dmabuf, sync, efd, mfd, null;

	igt_require(has_dmabuf_export_sync_file(fd));

	/* A dma-buf exported by the same device is not a DRM file. */
	dmabuf = vgem_dmabuf(fd);
	igt_assert_eq_u64(file_same(fd, dmabuf), 0);

	/* A sync_file (no fences attached, so an already signaled one). */
	sync = dmabuf_export_sync_file(dmabuf, DMA_BUF_SYNC_READ);
	igt_assert_eq_u64(file_same(fd, sync), 0);

	efd = eventfd(0, EFD_CLOEXEC);
	igt_assert_fd(efd);
	igt_assert_eq_u64(file_same(fd, efd), 0);

	/* A regular (shmem) file. */
	mfd = memfd_create("core_file_same", MFD_CLOEXEC);
	igt_assert_fd(mfd);
	igt_assert_eq_u64(file_same(fd, mfd), 0);

	/* A character device that is not DRM. */
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	igt_assert_fd(null);
	igt_assert_eq_u64(file_same(fd, null), 0);

	close(null);
	close(mfd);
	close(efd);
	close(sync);
	close(dmabuf);
}

static void test_o_path(int fd)
{
	struct drm_file_same arg = {
		.fd = fd,
	};
	char *name, proc[32];
	int path, proc_path, mfd, mfd_path, real;

	name = drmGetDeviceNameFromFd2(fd);
	igt_assert(name);

	/*
	 * The other file is looked up with fdget(), which refuses O_PATH
	 * descriptors, as fcntl(F_DUPFD_QUERY) does: an O_PATH descriptor of
	 * the very DRM node @fd was opened from is no open DRM file.
	 */
	path = open(name, O_PATH | O_CLOEXEC);
	igt_assert_fd(path);
	igt_assert_eq(__file_same(fd, path, 0, NULL), -EBADF);

	/* The same through /proc/self/fd, which names @fd's own open file. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	proc_path = open(proc, O_PATH | O_CLOEXEC);
	igt_assert_fd(proc_path);
	igt_assert_eq(__file_same(fd, proc_path, 0, NULL), -EBADF);

	/* An O_PATH descriptor of a file that is not DRM at all. */
	mfd = memfd_create("core_file_same", MFD_CLOEXEC);
	igt_assert_fd(mfd);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", mfd);
	mfd_path = open(proc, O_PATH | O_CLOEXEC);
	igt_assert_fd(mfd_path);
	igt_assert_eq(__file_same(fd, mfd_path, 0, NULL), -EBADF);

	/* No ioctl at all can be issued on an O_PATH descriptor. */
	do_ioctl_err(path, DRM_IOCTL_FILE_SAME, &arg, EBADF);

	/* A real open of the same node is compared. */
	real = open(name, O_RDWR | O_CLOEXEC);
	igt_assert_fd(real);
	assert_same(fd, real, DRM_FILE_SAME_DEVICE);

	close(real);
	close(mfd_path);
	close(mfd);
	close(proc_path);
	close(path);
	free(name);
}

struct drm_client_line {
	pid_t tgid;
	unsigned int dev;
	uint64_t id;
};

#define MAX_CLIENTS 64

/*
 * Parses the debugfs "clients" list of a DRM device. Each line is
 *   command tgid dev master a uid magic name id
 * and the command may contain spaces, so a line is read from its end.
 */
static int read_clients(int debugfs, struct drm_client_line *clients)
{
	char *buf, *line, *save = NULL;
	int n = 0;

	buf = igt_sysfs_get(debugfs, "clients");
	igt_assert(buf);

	/* The first line is the header. */
	line = strtok_r(buf, "\n", &save);
	igt_assert(line && strstr(line, "tgid"));

	while ((line = strtok_r(NULL, "\n", &save))) {
		char *tok[32], *t, *tsave = NULL;
		int ntok = 0;

		for (t = strtok_r(line, " ", &tsave); t && ntok < (int)ARRAY_SIZE(tok);
		     t = strtok_r(NULL, " ", &tsave))
			tok[ntok++] = t;
		igt_assert_f(ntok >= 8, "unexpected debugfs clients line\n");
		igt_assert(n < MAX_CLIENTS);

		clients[n].id = strtoull(tok[ntok - 1], NULL, 10);
		clients[n].dev = strtoul(tok[ntok - 7], NULL, 10);
		clients[n].tgid = strtol(tok[ntok - 8], NULL, 10);
		n++;
	}

	free(buf);
	return n;
}

/* The tgid debugfs "clients" shows as the owner of the client @id. */
static pid_t client_owner(int debugfs, uint64_t id)
{
	struct drm_client_line clients[MAX_CLIENTS];
	int n = read_clients(debugfs, clients);

	for (int i = 0; i < n; i++)
		if (clients[i].id == id)
			return clients[i].tgid;

	igt_assert_f(false, "client %llu not in debugfs clients\n",
		     (unsigned long long)id);
	return 0;
}

/* Asserts that debugfs shows @pid (@who) as the owner of the client @id. */
static void assert_owner(int debugfs, uint64_t id, pid_t pid, const char *who)
{
	pid_t owner = client_owner(debugfs, id);

	igt_assert_f(owner == pid,
		     "client %llu is owned by pid %d, expected %d (%s)\n",
		     (unsigned long long)id, owner, pid, who);
}

/* Asserts that debugfs does not show @pid (@who) as the owner. */
static void assert_not_owner(int debugfs, uint64_t id, pid_t pid, const char *who)
{
	pid_t owner = client_owner(debugfs, id);

	igt_assert_f(owner != pid, "client %llu is owned by pid %d (%s)\n",
		     (unsigned long long)id, owner, who);
}

/*
 * Opens a new vgem render client and finds it in debugfs "clients": the one
 * line that is new and on the render node. Returns its fd, and its id.
 */
static int open_listed_render_client(int debugfs, uint64_t *id)
{
	struct drm_client_line before[MAX_CLIENTS], after[MAX_CLIENTS];
	int nbefore, nafter, fd, found = 0;
	struct stat st;

	nbefore = read_clients(debugfs, before);

	fd = __drm_open_driver_render(DRIVER_VGEM);
	igt_require(fd >= 0);
	if (drmGetNodeTypeFromFd(fd) != DRM_NODE_RENDER) {
		drm_close_driver(fd);
		igt_skip("vgem exposes no render node\n");
	}
	igt_assert_eq(fstat(fd, &st), 0);

	nafter = read_clients(debugfs, after);
	for (int i = 0; i < nafter; i++) {
		bool old = false;

		for (int j = 0; j < nbefore; j++)
			old |= after[i].id == before[j].id;
		if (old || after[i].dev != minor(st.st_rdev))
			continue;

		/* A new client is owned by the process that opened it. */
		igt_assert_eq(after[i].tgid, getpid());
		*id = after[i].id;
		found++;
	}
	igt_assert_eq(found, 1);

	return fd;
}

/* Any DRM ioctl other than DRM_IOCTL_FILE_SAME makes the caller the owner. */
static void control_ioctl(int fd)
{
	struct drm_version version = {};

	do_ioctl(fd, DRM_IOCTL_VERSION, &version);
}

static void test_no_pid_update(int fd)
{
	int fd2, debugfs, sv[2];
	pid_t parent = getpid();
	uint64_t id;

	debugfs = igt_debugfs_dir(fd);
	igt_require_f(debugfs >= 0, "no debugfs directory for vgem\n");

	/*
	 * A render client: the owner of a card node's client that was DRM
	 * master never changes, and render clients are never master.
	 */
	fd2 = open_listed_render_client(debugfs, &id);
	assert_owner(debugfs, id, parent, "the opener");

	igt_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);

	igt_fork(child, 1) {
		int received, other;

		/* Only the copy received over the socket is used. */
		close(fd2);
		received = recv_fd(sv[1]);
		other = drm_open_driver_render(DRIVER_VGEM);

		assert_owner(debugfs, id, parent, "the opener");

		/* Issued on the received file and naming it, both ways. */
		igt_assert_eq_u64(file_same(received, received), SAME_ALL);
		assert_same(received, other, DRM_FILE_SAME_DEVICE);
		assert_same(received, fd, DRM_FILE_SAME_DEVICE);
		igt_assert_eq(__file_same(received, -1, 0, NULL), -EBADF);
		assert_owner(debugfs, id, parent, "the opener");

		/* The control: any other DRM ioctl takes the client over. */
		control_ioctl(received);
		assert_owner(debugfs, id, getpid(), "the child");

		drm_close_driver(other);
		close(received);
	}

	send_fd(sv[0], fd2);
	igt_waitchildren();

	/* The child still owns it; comparing does not take it back either. */
	assert_not_owner(debugfs, id, parent, "the opener");
	igt_assert_eq_u64(file_same(fd2, fd2), SAME_ALL);
	assert_same(fd2, fd, DRM_FILE_SAME_DEVICE);
	assert_not_owner(debugfs, id, parent, "the opener");

	control_ioctl(fd2);
	assert_owner(debugfs, id, parent, "the opener");

	close(sv[1]);
	close(sv[0]);
	drm_close_driver(fd2);
	close(debugfs);
}

static void test_symmetric(int fd)
{
	int fds[6], n = 0;

	fds[n++] = fd;
	fds[n++] = dup(fd);
	fds[n++] = drm_reopen_driver(fd);
	fds[n++] = drm_open_driver(DRIVER_VGEM);
	fds[n] = __drm_open_driver_render(DRIVER_VGEM);
	if (fds[n] >= 0)
		n++;
	fds[n] = __drm_open_driver(DRIVER_VKMS);
	if (fds[n] >= 0)
		n++;

	for (int i = 0; i < n; i++) {
		igt_assert_fd(fds[i]);

		for (int j = 0; j < n; j++) {
			uint64_t ab = file_same(fds[i], fds[j]);
			uint64_t ba = file_same(fds[j], fds[i]);

			igt_debug("fds[%d] ~ fds[%d]: 0x%llx / 0x%llx\n",
				  i, j, (unsigned long long)ab,
				  (unsigned long long)ba);
			igt_assert_eq_u64(ab, ba);

			/* FILE implies CLIENT implies DEVICE. */
			if (ab & DRM_FILE_SAME_FILE)
				igt_assert(ab & DRM_FILE_SAME_CLIENT);
			if (ab & DRM_FILE_SAME_CLIENT)
				igt_assert(ab & DRM_FILE_SAME_DEVICE);

			if (i == j)
				igt_assert_eq_u64(ab, SAME_ALL);
		}
	}

	/* fds[0] and fds[1] are one open file; fds[2] and fds[3] are not. */
	igt_assert_eq_u64(file_same(fds[0], fds[1]), SAME_ALL);
	igt_assert_eq_u64(file_same(fds[1], fds[2]), DRM_FILE_SAME_DEVICE);
	igt_assert_eq_u64(file_same(fds[2], fds[3]), DRM_FILE_SAME_DEVICE);

	for (int i = 1; i < n; i++)
		drm_close_driver(fds[i]);
}

static void test_invalid_fd(int fd)
{
	int closed = dup(fd);

	igt_assert_fd(closed);
	close(closed);

	igt_assert_eq(__file_same(fd, closed, 0, NULL), -EBADF);
	igt_assert_eq(__file_same(fd, -1, 0, NULL), -EBADF);
	igt_assert_eq(__file_same(fd, INT_MIN, 0, NULL), -EBADF);
}

static void test_invalid_flags(int fd)
{
	struct drm_file_same arg = {
		.fd = fd,
	};

	for (int bit = 0; bit < 32; bit++) {
		arg.flags = 1u << bit;
		do_ioctl_err(fd, DRM_IOCTL_FILE_SAME, &arg, EINVAL);
	}

	arg.flags = ~0u;
	do_ioctl_err(fd, DRM_IOCTL_FILE_SAME, &arg, EINVAL);

	/* The very same arguments are fine once the flags are cleared. */
	igt_assert_eq(__file_same(fd, fd, 0, NULL), 0);
}

static void test_bad_pointer(int fd)
{
	struct drm_file_same *arg;
	size_t size = 4096;

	/* Unreadable. */
	do_ioctl_err(fd, DRM_IOCTL_FILE_SAME, NULL, EFAULT);

	arg = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	igt_assert(arg != MAP_FAILED);
	do_ioctl_err(fd, DRM_IOCTL_FILE_SAME, arg, EFAULT);

	/* Readable and valid, but the result cannot be written back. */
	igt_assert_eq(mprotect(arg, size, PROT_READ | PROT_WRITE), 0);
	arg->fd = fd;
	arg->flags = 0;
	arg->result = RESULT_POISON;
	igt_assert_eq(mprotect(arg, size, PROT_READ), 0);
	do_ioctl_err(fd, DRM_IOCTL_FILE_SAME, arg, EFAULT);

	munmap(arg, size);
}

igt_main
{
	int fd = -1;

	igt_fixture {
		fd = drm_open_driver(DRIVER_VGEM);
		igt_require_f(has_file_same(fd),
			      "DRM_IOCTL_FILE_SAME not supported by this kernel\n");
	}

	igt_describe("Compare a DRM file descriptor with itself.");
	igt_subtest("self")
		test_self(fd);

	igt_describe("Compare a DRM file descriptor with its dup().");
	igt_subtest("dup")
		test_dup(fd);

	igt_describe("Compare two independent opens of the same card node.");
	igt_subtest("reopen")
		test_reopen(fd);

	igt_describe("Compare the card and render nodes of one device.");
	igt_subtest("card-vs-render")
		test_card_vs_render(fd);

	igt_describe("Compare a DRM fd with its reopen through /proc/self/fd.");
	igt_subtest("proc-reopen")
		test_proc_reopen(fd);

	igt_describe("Compare a DRM fd with its copy received over SCM_RIGHTS.");
	igt_subtest("scm-rights")
		test_scm_rights(fd);

	igt_describe("Compare file descriptors of two different DRM devices.");
	igt_subtest("other-device")
		test_other_device(fd);

	igt_describe("Compare a DRM fd with file descriptors that are not DRM files.");
	igt_subtest("other-fd-kinds")
		test_other_fd_kinds(fd);

	igt_describe("Check that O_PATH file descriptors fail with EBADF.");
	igt_subtest("o-path")
		test_o_path(fd);

	igt_describe("Check that comparing does not change the client's owner.");
	igt_subtest("no-pid-update")
		test_no_pid_update(fd);

	igt_describe("Check that the comparison is symmetric.");
	igt_subtest("symmetric")
		test_symmetric(fd);

	igt_describe("Check that closed and negative file descriptors fail with EBADF.");
	igt_subtest("invalid-fd")
		test_invalid_fd(fd);

	igt_describe("Check that non-zero flags fail with EINVAL.");
	igt_subtest("invalid-flags")
		test_invalid_flags(fd);

	igt_describe("Check that a bad argument pointer fails with EFAULT.");
	igt_subtest("bad-pointer")
		test_bad_pointer(fd);

	igt_fixture {
		drm_close_driver(fd);
	}
}
