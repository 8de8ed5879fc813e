// SPDX-License-Identifier: MIT
/*
 * Copyright © 2026 The DMA_BUF_IOCTL_SAME_OBJECT authors
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <linux/videodev2.h>
/*
 * <linux/videodev2.h> brings in <linux/const.h>, whose _AC() IGT's
 * linux_scaffold.h refuses to redefine; nothing below uses the kernel's.
 */
#undef _AC

#include "igt.h"
#include "igt_vgem.h"
#include "dmabuf_sync_file.h"
#include "sw_sync.h"

/**
 * TEST: dmabuf same object
 * Description: Tests the DMA_BUF_IOCTL_SAME_OBJECT ioctl, which tells
 *		whether two file descriptors refer to the same dma-buf open
 *		file, to the same struct dma_buf, or to dma-bufs over the same
 *		memory.
 * Category: Core
 * Mega feature: General Core features
 * Sub-category: dmabuf
 * Functionality: file descriptor identity
 * Feature: prime
 * Test category: uapi
 *
 * SUBTEST: dup
 * Description: Compare a dma-buf file descriptor with itself and with its
 *		dup(); a dma-buf is the same storage as itself.
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
 *		shared, and vgem cannot compare storage.
 * Feature: prime, vgem
 *
 * SUBTEST: dma-heap
 * Description: Compare dma-bufs allocated from the system dma-heap with each
 *		other, with their dup() and with a vgem dma-buf; the system
 *		heap cannot compare storage.
 *
 * SUBTEST: udmabuf-same-range
 * Description: Compare two udmabufs created over the same range of one
 *		sealed memfd; they are different dma-bufs over the same
 *		storage.
 *
 * SUBTEST: udmabuf-different-range
 * Description: Compare udmabufs over disjoint ranges of one memfd and over
 *		two memfds; the storage is compared and differs.
 *
 * SUBTEST: udmabuf-overlapping-range
 * Description: Compare udmabufs whose ranges of one memfd overlap without
 *		being equal; overlapping memory is not the same storage.
 *
 * SUBTEST: udmabuf-punch-hole
 * Description: Compare udmabufs over one range of a memfd made before and
 *		after the range was punched out with fallocate(); they are other memory.
 *
 * SUBTEST: storage-fences-not-shared
 * Description: Attach a sw_sync write fence to one of two dma-bufs over the
 *		same storage (two udmabufs over one range, a vim2m plane exported twice)
 *		and check that the other dma-buf does not see it.
 *
 * SUBTEST: storage-sync-protocol
 * Description: For two dma-bufs over the same storage, check the documented
 *		protocol: the other dma-buf's exported fences wait for its writer, and a
 *		fence imported into it is waited for by its next writer.
 *
 * SUBTEST: vim2m-expbuf
 * Description: Export V4L2 buffers of the vim2m mem2mem device (on
 *		videobuf2-vmalloc) with VIDIOC_EXPBUF; one plane exported twice
 *		is the same storage, two buffers are not.
 *
 * SUBTEST: different-exporters
 * Description: Compare dma-bufs of different exporters (vgem, system
 *		dma-heap, udmabuf, vim2m); storage is not compared across
 *		exporters.
 *
 * SUBTEST: drm-fd
 * Description: Compare a dma-buf with the DRM file descriptors of its
 *		exporter; a DRM file is not a dma-buf.
 * Feature: prime, vgem
 *
 * SUBTEST: other-fd-kinds
 * Description: Compare a dma-buf with descriptors that are not dma-bufs
 *		(eventfd, regular file); the ioctl succeeds and reports nothing
 *		in common.
 *
 * SUBTEST: o-path
 * Description: Check that a file descriptor opened with O_PATH, of the
 *		dma-buf itself or of another file, is rejected with EBADF.
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
		     "whether two file descriptors refer to the same dma-buf "
		     "or to dma-bufs over the same memory.");

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

#define DMA_BUF_SAME_FILE		(1ULL << 0)
#define DMA_BUF_SAME_OBJECT		(1ULL << 1)
#define DMA_BUF_SAME_STORAGE		(1ULL << 2)
#define DMA_BUF_STORAGE_COMPARED	(1ULL << 3)

#define DMA_BUF_IOCTL_SAME_OBJECT	_IOWR(DMA_BUF_BASE, 4, struct dma_buf_same_object)
#endif

/* The same storage, as the exporter compared it. */
#define SAME_STORAGE (DMA_BUF_SAME_STORAGE | DMA_BUF_STORAGE_COMPARED)
#define SAME_ALL (DMA_BUF_SAME_FILE | DMA_BUF_SAME_OBJECT | SAME_STORAGE)

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

	/* FILE implies OBJECT implies STORAGE, which needs COMPARED. */
	if (result & DMA_BUF_SAME_FILE)
		igt_assert(result & DMA_BUF_SAME_OBJECT);
	if (result & DMA_BUF_SAME_OBJECT)
		igt_assert(result & DMA_BUF_SAME_STORAGE);
	if (result & DMA_BUF_SAME_STORAGE)
		igt_assert(result & DMA_BUF_STORAGE_COMPARED);

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

static int udmabuf_open(void)
{
	int dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);

	igt_require_f(dev >= 0, "no /dev/udmabuf\n");

	return dev;
}

/* A memfd of @pages pages, sealed against shrinking as udmabuf wants. */
static int udmabuf_memfd(unsigned int pages)
{
	int memfd;

	memfd = memfd_create("dmabuf_same_object", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	igt_assert_fd(memfd);
	igt_assert_eq(ftruncate(memfd, (off_t)pages * BUF_SIZE), 0);
	igt_assert_eq(fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK), 0);

	return memfd;
}

/* A udmabuf over @pages pages of @memfd, from page @first. */
static int udmabuf_create(int dev, int memfd, unsigned int first,
			  unsigned int pages)
{
	struct udmabuf_create create = {
		.memfd = memfd,
		.flags = UDMABUF_FLAGS_CLOEXEC,
		.offset = (uint64_t)first * BUF_SIZE,
		.size = (uint64_t)pages * BUF_SIZE,
	};
	int dmabuf;

	dmabuf = igt_ioctl(dev, UDMABUF_CREATE, &create);
	igt_assert_fd(dmabuf);

	return dmabuf;
}

/* The first /dev/video* node whose driver is vim2m, or -1. */
static int vim2m_open(struct v4l2_capability *cap)
{
	char name[32];

	for (int i = 0; i < 64; i++) {
		int fd;

		snprintf(name, sizeof(name), "/dev/video%d", i);
		fd = open(name, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;

		memset(cap, 0, sizeof(*cap));
		if (igt_ioctl(fd, VIDIOC_QUERYCAP, cap) == 0 &&
		    !strcmp((const char *)cap->driver, "vim2m"))
			return fd;

		close(fd);
	}

	return -1;
}

/* Allocates @count MMAP buffers on the @type queue of @video. */
static void v4l2_reqbufs(int video, uint32_t type, uint32_t count)
{
	struct v4l2_requestbuffers req = {
		.count = count,
		.type = type,
		.memory = V4L2_MEMORY_MMAP,
	};

	do_ioctl(video, VIDIOC_REQBUFS, &req);
	igt_assert_lte(count, req.count);
}

/* Exports plane 0 of buffer @index of the @type queue as a new dma-buf. */
static int v4l2_expbuf(int video, uint32_t type, uint32_t index)
{
	struct v4l2_exportbuffer exp = {
		.type = type,
		.index = index,
		.plane = 0,
		.flags = O_RDWR | O_CLOEXEC,
	};

	do_ioctl(video, VIDIOC_EXPBUF, &exp);
	igt_assert_fd(exp.fd);

	return exp.fd;
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

static void test_udmabuf_same_range(int fd)
{
	int dev, memfd, a, a2, b, c, d, vgem;

	dev = udmabuf_open();
	memfd = udmabuf_memfd(4);

	a = udmabuf_create(dev, memfd, 0, 1);
	b = udmabuf_create(dev, memfd, 0, 1);
	a2 = dup(a);
	igt_assert_fd(a2);
	vgem = vgem_dmabuf(fd);

	igt_assert_eq_u64(same_object(a, a), SAME_ALL);
	assert_same(a, a2, SAME_ALL);
	/* Two distinct dma-bufs over the same pages. */
	assert_same(a, b, SAME_STORAGE);
	assert_same(a2, b, SAME_STORAGE);

	/* The same again for a range that does not start at 0. */
	c = udmabuf_create(dev, memfd, 1, 3);
	d = udmabuf_create(dev, memfd, 1, 3);
	assert_same(c, d, SAME_STORAGE);
	assert_same(a, c, DMA_BUF_STORAGE_COMPARED);

	/* Another exporter: nothing is compared. */
	assert_same(a, vgem, 0);

	/* Neither the backing memfd nor the udmabuf device is a dma-buf. */
	igt_assert_eq_u64(same_object(a, memfd), 0);
	igt_assert_eq_u64(same_object(a, dev), 0);

	close(vgem);
	close(d);
	close(c);
	close(a2);
	close(b);
	close(a);
	close(memfd);
	close(dev);
}

static void test_udmabuf_different_range(void)
{
	int dev, memfd, memfd2, a, b, c;

	dev = udmabuf_open();
	memfd = udmabuf_memfd(2);
	memfd2 = udmabuf_memfd(2);

	/* Disjoint ranges of one memfd, of the same size. */
	a = udmabuf_create(dev, memfd, 0, 1);
	b = udmabuf_create(dev, memfd, 1, 1);
	assert_same(a, b, DMA_BUF_STORAGE_COMPARED);

	/* The same range of another memfd. */
	c = udmabuf_create(dev, memfd2, 0, 1);
	assert_same(a, c, DMA_BUF_STORAGE_COMPARED);
	assert_same(b, c, DMA_BUF_STORAGE_COMPARED);

	close(c);
	close(b);
	close(a);
	close(memfd2);
	close(memfd);
	close(dev);
}

static void test_udmabuf_overlapping_range(void)
{
	int dev, memfd, whole, first, tail, shifted, same;

	dev = udmabuf_open();
	memfd = udmabuf_memfd(3);

	whole = udmabuf_create(dev, memfd, 0, 2);	/* pages 0-1 */
	first = udmabuf_create(dev, memfd, 0, 1);	/* page 0 */
	tail = udmabuf_create(dev, memfd, 1, 1);	/* page 1 */
	shifted = udmabuf_create(dev, memfd, 1, 2);	/* pages 1-2 */
	same = udmabuf_create(dev, memfd, 0, 2);	/* pages 0-1 again */

	/* Same start, different size: one contains the other. */
	assert_same(whole, first, DMA_BUF_STORAGE_COMPARED);
	/* Different start, one contains the other. */
	assert_same(whole, tail, DMA_BUF_STORAGE_COMPARED);
	/* Same size, shifted by one page: one page in common. */
	assert_same(whole, shifted, DMA_BUF_STORAGE_COMPARED);
	assert_same(tail, shifted, DMA_BUF_STORAGE_COMPARED);

	/* The control: the same range is the same storage. */
	assert_same(whole, same, SAME_STORAGE);

	close(same);
	close(shifted);
	close(tail);
	close(first);
	close(whole);
	close(memfd);
	close(dev);
}

/*
 * A udmabuf pins the pages its range holds when it is made: after the range
 * is punched out of the memfd, a udmabuf over the same range gets new pages.
 */
static void test_udmabuf_punch_hole(void)
{
	int dev, memfd, before, after, again;

	dev = udmabuf_open();
	memfd = udmabuf_memfd(4);

	before = udmabuf_create(dev, memfd, 0, 4);
	igt_assert_eq(fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				0, 4 * BUF_SIZE), 0);
	after = udmabuf_create(dev, memfd, 0, 4);
	again = udmabuf_create(dev, memfd, 0, 4);

	assert_same(before, after, DMA_BUF_STORAGE_COMPARED);
	assert_same(after, again, SAME_STORAGE);

	close(again);
	close(after);
	close(before);
	close(memfd);
	close(dev);
}

/* Plane 0 of capture buffer 0 of a vim2m device, exported twice. */
static bool vim2m_pair(int *video, int *a, int *b)
{
	struct v4l2_capability cap;
	uint32_t caps, type;

	*video = vim2m_open(&cap);
	if (*video < 0)
		return false;

	caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ?
		cap.device_caps : cap.capabilities;
	type = caps & V4L2_CAP_VIDEO_M2M_MPLANE ?
		V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE;
	v4l2_reqbufs(*video, type, 1);
	*a = v4l2_expbuf(*video, type, 0);
	*b = v4l2_expbuf(*video, type, 0);

	return true;
}

/*
 * Without the protocol: a write fence attached to @b is not in @a's
 * reservation object, so a reader that waits for @a's implicit fences reads
 * while @b's writer is still writing.
 */
static void check_fences_not_shared(int a, int b)
{
	int timeline, fence;

	assert_same(a, b, SAME_STORAGE);

	timeline = sw_sync_timeline_create();
	fence = sw_sync_timeline_create_fence(timeline, 1);
	dmabuf_import_sync_file(b, DMA_BUF_SYNC_WRITE, fence);

	igt_assert(dmabuf_busy(b, DMA_BUF_SYNC_READ));
	igt_assert(!dmabuf_busy(a, DMA_BUF_SYNC_READ));
	igt_assert(!dmabuf_sync_file_busy(a, DMA_BUF_SYNC_READ));

	sw_sync_timeline_inc(timeline, 1);
	igt_assert(!dmabuf_busy(b, DMA_BUF_SYNC_READ));

	close(fence);
	close(timeline);
}

/*
 * With the protocol: a reader that uses @a's import for @b takes @b's fences
 * first, which wait for @b's writer, and attaches its own fence to @b after,
 * which @b's next writer waits for and @a does not see.
 */
static void check_sync_protocol(int a, int b)
{
	int timeline, write, wait_for, read_done;

	assert_same(a, b, SAME_STORAGE);

	timeline = sw_sync_timeline_create();
	write = sw_sync_timeline_create_fence(timeline, 1);
	dmabuf_import_sync_file(b, DMA_BUF_SYNC_WRITE, write);

	/* 1. B's fences for a read. */
	wait_for = dmabuf_export_sync_file(b, DMA_BUF_SYNC_READ);
	igt_assert(sync_file_busy(wait_for));
	sw_sync_timeline_inc(timeline, 1);
	igt_assert(!sync_file_busy(wait_for));

	/* 2. The read's fence, attached to B. */
	read_done = sw_sync_timeline_create_fence(timeline, 2);
	dmabuf_import_sync_file(b, DMA_BUF_SYNC_READ, read_done);
	igt_assert(dmabuf_sync_file_busy(b, DMA_BUF_SYNC_WRITE));
	igt_assert(!dmabuf_busy(a, DMA_BUF_SYNC_WRITE));
	sw_sync_timeline_inc(timeline, 1);
	igt_assert(!dmabuf_sync_file_busy(b, DMA_BUF_SYNC_WRITE));

	close(read_done);
	close(wait_for);
	close(write);
	close(timeline);
}

/* Runs @check on two udmabufs over one range and on a vim2m plane exported twice. */
static void test_storage_fences(void (*check)(int a, int b))
{
	int dev, memfd, a, b, video;

	igt_require_sw_sync();

	dev = udmabuf_open();
	memfd = udmabuf_memfd(2);
	a = udmabuf_create(dev, memfd, 0, 2);
	b = udmabuf_create(dev, memfd, 0, 2);
	check(a, b);
	close(b);
	close(a);
	close(memfd);
	close(dev);

	if (!vim2m_pair(&video, &a, &b)) {
		igt_info("no vim2m device: checked udmabufs only\n");
		return;
	}
	check(a, b);
	close(b);
	close(a);
	close(video);
}

static void test_vim2m_expbuf(int fd)
{
	struct v4l2_capability cap;
	uint32_t out_type, cap_type, caps;
	int video, a, a2, a_dup, b, out, vgem;

	video = vim2m_open(&cap);
	igt_require_f(video >= 0, "no vim2m device\n");

	caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ?
		cap.device_caps : cap.capabilities;
	if (caps & V4L2_CAP_VIDEO_M2M_MPLANE) {
		cap_type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
		out_type = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
	} else {
		igt_require(caps & V4L2_CAP_VIDEO_M2M);
		cap_type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		out_type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	}

	v4l2_reqbufs(video, cap_type, 2);
	v4l2_reqbufs(video, out_type, 1);

	/* Every VIDIOC_EXPBUF exports a new dma-buf. */
	a = v4l2_expbuf(video, cap_type, 0);
	a2 = v4l2_expbuf(video, cap_type, 0);
	b = v4l2_expbuf(video, cap_type, 1);
	out = v4l2_expbuf(video, out_type, 0);
	a_dup = dup(a);
	igt_assert_fd(a_dup);
	vgem = vgem_dmabuf(fd);

	igt_assert_eq_u64(same_object(a, a), SAME_ALL);
	assert_same(a, a_dup, SAME_ALL);

	/* One plane exported twice: two dma-bufs over the same storage. */
	assert_same(a, a2, SAME_STORAGE);
	assert_same(a_dup, a2, SAME_STORAGE);

	/* Two buffers of one queue, and buffers of the two queues. */
	assert_same(a, b, DMA_BUF_STORAGE_COMPARED);
	assert_same(a2, b, DMA_BUF_STORAGE_COMPARED);
	assert_same(a, out, DMA_BUF_STORAGE_COMPARED);
	assert_same(b, out, DMA_BUF_STORAGE_COMPARED);

	/* Another exporter, and the video node, which is no dma-buf. */
	assert_same(a, vgem, 0);
	igt_assert_eq_u64(same_object(a, video), 0);

	close(vgem);
	close(a_dup);
	close(out);
	close(b);
	close(a2);
	close(a);
	v4l2_reqbufs(video, out_type, 0);
	v4l2_reqbufs(video, cap_type, 0);
	close(video);
}

static void test_different_exporters(int fd)
{
	struct v4l2_capability cap;
	int bufs[4], n = 0, heap, udev, memfd = -1, video;

	bufs[n++] = vgem_dmabuf(fd);

	heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	if (heap >= 0)
		bufs[n++] = heap_alloc(heap);

	udev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (udev >= 0) {
		memfd = udmabuf_memfd(1);
		bufs[n++] = udmabuf_create(udev, memfd, 0, 1);
	}

	video = vim2m_open(&cap);
	if (video >= 0) {
		uint32_t caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ?
			cap.device_caps : cap.capabilities;
		uint32_t type = caps & V4L2_CAP_VIDEO_M2M_MPLANE ?
			V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE :
			V4L2_BUF_TYPE_VIDEO_CAPTURE;

		v4l2_reqbufs(video, type, 1);
		bufs[n++] = v4l2_expbuf(video, type, 0);
	}

	igt_require_f(n >= 2, "no exporter besides vgem\n");
	igt_info("%d exporters: vgem%s%s%s\n", n,
		 heap >= 0 ? ", system heap" : "",
		 udev >= 0 ? ", udmabuf" : "",
		 video >= 0 ? ", vim2m" : "");

	/*
	 * Storage is only compared between dma-bufs of one exporter, and
	 * never for the same size alone: every pair here is 0.
	 */
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			igt_assert_eq_u64(same_object(bufs[i], bufs[j]),
					  i == j ? SAME_ALL : 0);

	for (int i = 0; i < n; i++)
		close(bufs[i]);
	if (video >= 0)
		close(video);
	if (udev >= 0) {
		close(memfd);
		close(udev);
	}
	if (heap >= 0)
		close(heap);
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
	int efd, mfd;

	efd = eventfd(0, EFD_CLOEXEC);
	igt_assert_fd(efd);
	igt_assert_eq_u64(same_object(dmabuf, efd), 0);

	mfd = memfd_create("dmabuf_same_object", MFD_CLOEXEC);
	igt_assert_fd(mfd);
	igt_assert_eq_u64(same_object(dmabuf, mfd), 0);

	close(mfd);
	close(efd);
}

static void test_o_path(int dmabuf)
{
	struct dma_buf_same_object arg = {
		.fd = dmabuf,
	};
	char path[32];
	int opath, mfd, mfd_path;

	/*
	 * The other file is looked up with fdget(), which refuses O_PATH
	 * descriptors, as fcntl(F_DUPFD_QUERY) does: an O_PATH descriptor of
	 * the dma-buf's own inode is no open dma-buf.
	 */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dmabuf);
	opath = open(path, O_PATH | O_CLOEXEC);
	igt_assert_fd(opath);
	igt_assert_eq(__same_object(dmabuf, opath, 0, NULL), -EBADF);

	/* An O_PATH descriptor of a regular file. */
	mfd = memfd_create("dmabuf_same_object", MFD_CLOEXEC);
	igt_assert_fd(mfd);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	mfd_path = open(path, O_PATH | O_CLOEXEC);
	igt_assert_fd(mfd_path);
	igt_assert_eq(__same_object(dmabuf, mfd_path, 0, NULL), -EBADF);

	/* No ioctl at all can be issued on an O_PATH descriptor. */
	do_ioctl_err(opath, DMA_BUF_IOCTL_SAME_OBJECT, &arg, EBADF);

	/* The control: the file itself is compared. */
	igt_assert_eq_u64(same_object(dmabuf, dmabuf), SAME_ALL);

	close(mfd_path);
	close(mfd);
	close(opath);
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

	igt_describe("Compare udmabufs over the same range of one memfd.");
	igt_subtest("udmabuf-same-range")
		test_udmabuf_same_range(fd);

	igt_describe("Compare udmabufs over different ranges and memfds.");
	igt_subtest("udmabuf-different-range")
		test_udmabuf_different_range();

	igt_describe("Compare udmabufs over overlapping ranges of one memfd.");
	igt_subtest("udmabuf-overlapping-range")
		test_udmabuf_overlapping_range();

	igt_describe("Compare udmabufs over one range made either side of a punch-hole.");
	igt_subtest("udmabuf-punch-hole")
		test_udmabuf_punch_hole();

	igt_describe("Check that fences attached to a dma-buf are not seen through another "
		     "dma-buf over the same storage.");
	igt_subtest("storage-fences-not-shared")
		test_storage_fences(check_fences_not_shared);

	igt_describe("Check the synchronization protocol for dma-bufs over the same storage: "
		     "export the other dma-buf's fences before, import the access's fence after.");
	igt_subtest("storage-sync-protocol")
		test_storage_fences(check_sync_protocol);

	igt_describe("Compare V4L2 buffers of vim2m exported with VIDIOC_EXPBUF.");
	igt_subtest("vim2m-expbuf")
		test_vim2m_expbuf(fd);

	igt_describe("Compare dma-bufs of different exporters.");
	igt_subtest("different-exporters")
		test_different_exporters(fd);

	igt_describe("Compare a dma-buf with DRM file descriptors.");
	igt_subtest("drm-fd")
		test_drm_fd(fd);

	igt_describe("Compare a dma-buf with file descriptors that are not dma-bufs.");
	igt_subtest("other-fd-kinds")
		test_other_fd_kinds(dmabuf);

	igt_describe("Check that O_PATH file descriptors fail with EBADF.");
	igt_subtest("o-path")
		test_o_path(dmabuf);

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
