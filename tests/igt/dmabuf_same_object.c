// SPDX-License-Identifier: MIT
/*
 * Copyright © 2026 The DMA_BUF_IOCTL_SAME_OBJECT authors
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>

#include "igt.h"
#include "igt_vgem.h"

/**
 * TEST: dmabuf same object
 * Description: Tests the DMA_BUF_IOCTL_SAME_OBJECT ioctl, which tells
 *		whether two file descriptors refer to the same dma-buf open
 *		file or to the same struct dma_buf.
 * Category: Core
 * Mega feature: General Core features
 * Sub-category: dmabuf
 * Functionality: file descriptor identity
 * Feature: prime
 * Test category: uapi
 *
 * SUBTEST: dup
 * Description: Compare a dma-buf file descriptor with itself and with its
 *		dup().
 * Feature: prime, vgem
 *
 * SUBTEST: export-twice
 * Description: Export the same GEM object twice; both descriptors refer to
 *		the same dma-buf.
 * Feature: prime, vgem
 *
 * SUBTEST: cross-device-reexport
 * Description: Export a vgem object, import it into vkms and export it again
 *		from vkms; the re-export is the original dma-buf.
 * Feature: prime, vgem
 *
 * SUBTEST: two-buffers
 * Description: Compare the dma-bufs of two different GEM objects; nothing is
 *		shared.
 * Feature: prime, vgem
 *
 * SUBTEST: dma-heap
 * Description: Compare dma-bufs allocated from the system dma-heap with each
 *		other, with their dup() and with a vgem dma-buf.
 *
 * SUBTEST: udmabuf
 * Description: Compare dma-bufs created by udmabuf from one sealed memfd; two
 *		dma-bufs over the same pages are still different objects.
 *
 * SUBTEST: drm-fd
 * Description: Compare a dma-buf with the DRM file descriptors of its
 *		exporter; a DRM file is not a dma-buf.
 * Feature: prime, vgem
 *
 * SUBTEST: other-fd-kinds
 * Description: Compare a dma-buf with descriptors that are not dma-bufs
 *		(eventfd, regular file, O_PATH of the dma-buf itself); the ioctl
 *		succeeds and reports nothing in common.
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

IGT_TEST_DESCRIPTION("Tests the DMA_BUF_IOCTL_SAME_OBJECT ioctl, which tells "
		     "whether two file descriptors refer to the same dma-buf.");

/*
 * Local copy of the new uAPI from include/uapi/linux/dma-buf.h, until the
 * headers IGT builds against carry it; this goes away with the next
 * drm-uapi header sync.
 */
#ifndef DMA_BUF_IOCTL_SAME_OBJECT
struct dma_buf_same_object {
	__s32 fd;
	__u32 flags;
	__u64 result;
};

#define DMA_BUF_SAME_FILE	(1ULL << 0)
#define DMA_BUF_SAME_OBJECT	(1ULL << 1)

#define DMA_BUF_IOCTL_SAME_OBJECT	_IOWR(DMA_BUF_BASE, 4, struct dma_buf_same_object)
#endif

#define SAME_ALL (DMA_BUF_SAME_FILE | DMA_BUF_SAME_OBJECT)

/* Written into .result before each call, to catch a kernel that leaves it. */
#define RESULT_POISON 0xdeadbeefdeadbeefull

#define BUF_SIZE 4096

static int __same_object(int dmabuf, int other, uint32_t flags, uint64_t *result)
{
	struct dma_buf_same_object arg = {
		.fd = other,
		.flags = flags,
		.result = RESULT_POISON,
	};
	int err = 0;

	if (igt_ioctl(dmabuf, DMA_BUF_IOCTL_SAME_OBJECT, &arg)) {
		err = -errno;
		igt_assume(err);
	} else if (result) {
		*result = arg.result;
	}

	errno = 0;
	return err;
}

static uint64_t same_object(int dmabuf, int other)
{
	uint64_t result = RESULT_POISON;

	igt_assert_eq(__same_object(dmabuf, other, 0, &result), 0);
	igt_assert_f(!(result & ~SAME_ALL),
		     "unknown bits in result 0x%llx\n", (unsigned long long)result);

	return result;
}

/* Asserts the exact result for (a, b) and for (b, a); both are dma-bufs. */
static void assert_same(int a, int b, uint64_t expected)
{
	igt_assert_eq_u64(same_object(a, b), expected);
	igt_assert_eq_u64(same_object(b, a), expected);
}

static bool has_same_object(int dmabuf)
{
	/* An older kernel rejects the unknown dma-buf ioctl with ENOTTY. */
	return __same_object(dmabuf, dmabuf, 0, NULL) != -ENOTTY;
}

static uint32_t vgem_handle(int fd)
{
	struct vgem_bo bo = {
		.width = BUF_SIZE / 4,
		.height = 1,
		.bpp = 32,
	};

	vgem_create(fd, &bo);

	return bo.handle;
}

static int vgem_dmabuf(int fd)
{
	uint32_t handle = vgem_handle(fd);
	int dmabuf = prime_handle_to_fd(fd, handle);

	/* The dma-buf holds its own reference on the object. */
	gem_close(fd, handle);

	return dmabuf;
}

static int heap_alloc(int heap)
{
	struct dma_heap_allocation_data data = {
		.len = BUF_SIZE,
		.fd_flags = O_RDWR | O_CLOEXEC,
	};

	do_ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &data);
	igt_assert_fd(data.fd);

	return data.fd;
}

static int udmabuf_create(int dev, int memfd)
{
	struct udmabuf_create create = {
		.memfd = memfd,
		.flags = UDMABUF_FLAGS_CLOEXEC,
		.offset = 0,
		.size = BUF_SIZE,
	};
	int dmabuf;

	dmabuf = igt_ioctl(dev, UDMABUF_CREATE, &create);
	igt_assert_fd(dmabuf);

	return dmabuf;
}

static void test_dup(int dmabuf)
{
	int dmabuf2 = dup(dmabuf);

	igt_assert_fd(dmabuf2);
	igt_assert_eq_u64(same_object(dmabuf, dmabuf), SAME_ALL);
	assert_same(dmabuf, dmabuf2, SAME_ALL);
	close(dmabuf2);
}

static void test_export_twice(int fd)
{
	uint32_t handle = vgem_handle(fd);
	int dmabuf, dmabuf2;

	/*
	 * The GEM object caches its dma-buf, so the second export returns the
	 * same struct dma_buf, and with it the same struct file.
	 */
	dmabuf = prime_handle_to_fd(fd, handle);
	dmabuf2 = prime_handle_to_fd(fd, handle);
	igt_assert_neq(dmabuf, dmabuf2);

	assert_same(dmabuf, dmabuf2, SAME_ALL);

	/* Importing it back into the exporter yields the same handle. */
	igt_assert_eq_u32(prime_fd_to_handle(fd, dmabuf2), handle);

	close(dmabuf2);
	close(dmabuf);
	gem_close(fd, handle);
}

static void test_cross_device_reexport(int fd)
{
	uint32_t handle;
	int vkms, dmabuf, dmabuf2;

	vkms = drm_open_driver(DRIVER_VKMS);

	dmabuf = vgem_dmabuf(fd);

	/*
	 * vkms imports the vgem dma-buf; exporting the imported object again
	 * hands back the dma-buf it was imported from.
	 */
	if (drmPrimeFDToHandle(vkms, dmabuf, &handle)) {
		close(dmabuf);
		drm_close_driver(vkms);
		igt_skip("vkms cannot import a vgem dma-buf\n");
	}
	dmabuf2 = prime_handle_to_fd(vkms, handle);
	igt_assert_neq(dmabuf, dmabuf2);

	assert_same(dmabuf, dmabuf2, SAME_ALL);

	close(dmabuf2);
	gem_close(vkms, handle);
	close(dmabuf);
	drm_close_driver(vkms);
}

static void test_two_buffers(int fd)
{
	int a = vgem_dmabuf(fd);
	int b = vgem_dmabuf(fd);

	assert_same(a, b, 0);

	close(b);
	close(a);
}

static void test_dma_heap(int fd)
{
	int heap, a, a2, b, vgem;

	heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	igt_require_f(heap >= 0, "no system dma-heap\n");

	a = heap_alloc(heap);
	b = heap_alloc(heap);
	a2 = dup(a);
	igt_assert_fd(a2);
	vgem = vgem_dmabuf(fd);

	igt_assert_eq_u64(same_object(a, a), SAME_ALL);
	assert_same(a, a2, SAME_ALL);
	assert_same(a, b, 0);
	assert_same(a2, b, 0);
	assert_same(a, vgem, 0);

	/* The heap device itself is not a dma-buf. */
	igt_assert_eq_u64(same_object(a, heap), 0);

	close(vgem);
	close(a2);
	close(b);
	close(a);
	close(heap);
}

static void test_udmabuf(int fd)
{
	int dev, memfd, a, a2, b, vgem;

	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	igt_require_f(dev >= 0, "no /dev/udmabuf\n");

	memfd = memfd_create("dmabuf_same_object", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	igt_assert_fd(memfd);
	igt_assert_eq(ftruncate(memfd, BUF_SIZE), 0);
	igt_assert_eq(fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK), 0);

	a = udmabuf_create(dev, memfd);
	b = udmabuf_create(dev, memfd);
	a2 = dup(a);
	igt_assert_fd(a2);
	vgem = vgem_dmabuf(fd);

	igt_assert_eq_u64(same_object(a, a), SAME_ALL);
	assert_same(a, a2, SAME_ALL);
	/* Same pages, but two distinct dma-bufs. */
	assert_same(a, b, 0);
	assert_same(a, vgem, 0);

	/* Neither the backing memfd nor the udmabuf device is a dma-buf. */
	igt_assert_eq_u64(same_object(a, memfd), 0);
	igt_assert_eq_u64(same_object(a, dev), 0);

	close(vgem);
	close(a2);
	close(b);
	close(a);
	close(memfd);
	close(dev);
}

static void test_drm_fd(int fd)
{
	int dmabuf = vgem_dmabuf(fd);
	int render;

	igt_assert_eq_u64(same_object(dmabuf, fd), 0);

	render = __drm_open_driver_render(DRIVER_VGEM);
	if (render >= 0) {
		igt_assert_eq_u64(same_object(dmabuf, render), 0);
		drm_close_driver(render);
	}

	close(dmabuf);
}

static void test_other_fd_kinds(int dmabuf)
{
	char path[32];
	int efd, mfd, opath;

	efd = eventfd(0, EFD_CLOEXEC);
	igt_assert_fd(efd);
	igt_assert_eq_u64(same_object(dmabuf, efd), 0);

	mfd = memfd_create("dmabuf_same_object", MFD_CLOEXEC);
	igt_assert_fd(mfd);
	igt_assert_eq_u64(same_object(dmabuf, mfd), 0);

	/* An O_PATH descriptor of the dma-buf's own inode is no dma-buf file. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dmabuf);
	opath = open(path, O_PATH | O_CLOEXEC);
	igt_assert_fd(opath);
	igt_assert_eq_u64(same_object(dmabuf, opath), 0);

	close(opath);
	close(mfd);
	close(efd);
}

static void test_invalid_fd(int dmabuf)
{
	int closed = dup(dmabuf);

	igt_assert_fd(closed);
	close(closed);

	igt_assert_eq(__same_object(dmabuf, closed, 0, NULL), -EBADF);
	igt_assert_eq(__same_object(dmabuf, -1, 0, NULL), -EBADF);
	igt_assert_eq(__same_object(dmabuf, INT_MIN, 0, NULL), -EBADF);
}

static void test_invalid_flags(int dmabuf)
{
	struct dma_buf_same_object arg = {
		.fd = dmabuf,
	};

	for (int bit = 0; bit < 32; bit++) {
		arg.flags = 1u << bit;
		do_ioctl_err(dmabuf, DMA_BUF_IOCTL_SAME_OBJECT, &arg, EINVAL);
	}

	arg.flags = ~0u;
	do_ioctl_err(dmabuf, DMA_BUF_IOCTL_SAME_OBJECT, &arg, EINVAL);

	/* The very same arguments are fine once the flags are cleared. */
	igt_assert_eq(__same_object(dmabuf, dmabuf, 0, NULL), 0);
}

static void test_bad_pointer(int dmabuf)
{
	struct dma_buf_same_object *arg;
	size_t size = 4096;

	/* Unreadable. */
	do_ioctl_err(dmabuf, DMA_BUF_IOCTL_SAME_OBJECT, NULL, EFAULT);

	arg = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	igt_assert(arg != MAP_FAILED);
	do_ioctl_err(dmabuf, DMA_BUF_IOCTL_SAME_OBJECT, arg, EFAULT);

	/* Readable and valid, but the result cannot be written back. */
	igt_assert_eq(mprotect(arg, size, PROT_READ | PROT_WRITE), 0);
	arg->fd = dmabuf;
	arg->flags = 0;
	arg->result = RESULT_POISON;
	igt_assert_eq(mprotect(arg, size, PROT_READ), 0);
	do_ioctl_err(dmabuf, DMA_BUF_IOCTL_SAME_OBJECT, arg, EFAULT);

	munmap(arg, size);
}

igt_main
{
	int fd = -1, dmabuf = -1;

	igt_fixture {
		fd = drm_open_driver(DRIVER_VGEM);
		dmabuf = vgem_dmabuf(fd);
		igt_require_f(has_same_object(dmabuf),
			      "DMA_BUF_IOCTL_SAME_OBJECT not supported by this kernel\n");
	}

	igt_describe("Compare a dma-buf fd with itself and with its dup().");
	igt_subtest("dup")
		test_dup(dmabuf);

	igt_describe("Compare two exports of the same GEM object.");
	igt_subtest("export-twice")
		test_export_twice(fd);

	igt_describe("Compare a vgem dma-buf with its re-export by vkms.");
	igt_subtest("cross-device-reexport")
		test_cross_device_reexport(fd);

	igt_describe("Compare the dma-bufs of two different GEM objects.");
	igt_subtest("two-buffers")
		test_two_buffers(fd);

	igt_describe("Compare dma-bufs allocated from the system dma-heap.");
	igt_subtest("dma-heap")
		test_dma_heap(fd);

	igt_describe("Compare udmabufs created from one sealed memfd.");
	igt_subtest("udmabuf")
		test_udmabuf(fd);

	igt_describe("Compare a dma-buf with DRM file descriptors.");
	igt_subtest("drm-fd")
		test_drm_fd(fd);

	igt_describe("Compare a dma-buf with file descriptors that are not dma-bufs.");
	igt_subtest("other-fd-kinds")
		test_other_fd_kinds(dmabuf);

	igt_describe("Check that closed and negative file descriptors fail with EBADF.");
	igt_subtest("invalid-fd")
		test_invalid_fd(dmabuf);

	igt_describe("Check that non-zero flags fail with EINVAL.");
	igt_subtest("invalid-flags")
		test_invalid_flags(dmabuf);

	igt_describe("Check that a bad argument pointer fails with EFAULT.");
	igt_subtest("bad-pointer")
		test_bad_pointer(dmabuf);

	igt_fixture {
		close(dmabuf);
		drm_close_driver(fd);
	}
}
