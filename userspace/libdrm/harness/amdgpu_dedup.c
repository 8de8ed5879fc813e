/* SPDX-License-Identifier: MIT */
/*
 * libdrm_amdgpu's device deduplication, run on DRM devices that are not
 * amdgpu.
 *
 * amdgpu_device_initialize() hands out one amdgpu_device for all file
 * descriptors that fd_compare() calls one device. This harness is linked with
 * libdrm_amdgpu's amdgpu_device.c of the tree under test (before or after the
 * patches), compiled with the amdgpu query ioctls stubbed (amdgpu_stubs.c),
 * and counts, for every ordered pair of DRM files of the machine, how many
 * amdgpu_device objects two amdgpu_device_initialize() calls create: 1 is
 * right for files of one device, 2 for files of different devices. A wrong
 * 1 ("merged") hands one GPU's amdgpu_device to a user of another, so that
 * work goes to the wrong GPU; a wrong 2 ("split") costs memory and a dma-buf
 * export between the two, not correctness.
 *
 * The files: every node of /sys/class/drm (primary and render), each opened
 * twice, and a lease of vkms's primary node (connector, CRTC, plane). The
 * truth: two files are of one device when their nodes' sysfs device
 * directories are one (a lessee: its lessor's). Run with /sys, then, in a
 * private mount namespace, with /sys unmounted (the files stay open).
 *
 * What cannot run here: amdgpu itself, so neither its query ioctls (stubbed)
 * nor its compute partitions, whose rule (DRM_FILE_SAME_DEVICE refined by
 * amdgpu's drm_driver.file_same_device) only the kernel's KUnit tests cover.
 *
 * DRM_IOCTL_GET_CLIENT, which amdgpu_get_auth() issues on a file it does not
 * know to be a render node, is real; a render node refuses it with EACCES.
 * That happens without /sys, where drmGetNodeTypeFromFd() cannot tell the
 * node type: libdrm_amdgpu before "amdgpu: initialize on a render node
 * without /sys" then fails amdgpu_device_initialize(). Each phase first
 * initializes every file alone and counts the failures ("init_failed");
 * for the pairs, the harness then answers such a refusal as for a render
 * node (auth 0), so that the deduplication is measured in every variant.
 *
 * Output: one "DEDUP" summary line per phase, one "CLASS" line per phase and
 * kind of pair, "PAIR" lines with -v. Exit status 0 unless the harness
 * itself could not run (no DRM file, a failed initialization).
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xf86drm.h>
#include <xf86drmMode.h>

#include "amdgpu.h"

/* The "before" tree's drm.h predates the series. */
#ifndef DRM_IOCTL_FILE_SAME
struct drm_file_same {
    __s32 fd;
    __u32 flags;
    __u64 result;
};
#define DRM_IOCTL_FILE_SAME DRM_IOWR(0xD3, struct drm_file_same)
#endif

#define MAX_FILES 64

struct file {
    char name[64];   /* e.g. "vkms card1 #2" */
    char node[32];   /* e.g. "card1" */
    char sysfs[PATH_MAX];
    int fd;
    int lessee;
};

static struct file files[MAX_FILES];
static int num_files, verbose;
static int answer_get_client;

/* amdgpu_device.c is compiled with drmIoctl renamed to this. */
int harness_drmIoctl(int fd, unsigned long request, void *arg);

int harness_drmIoctl(int fd, unsigned long request, void *arg)
{
    int r = drmIoctl(fd, request, arg);

    if (r && errno == EACCES && request == DRM_IOCTL_GET_CLIENT &&
        answer_get_client) {
        /* A render node: go on as for one that was recognised. */
        ((drm_client_t *)arg)->auth = 0;
        return 0;
    }
    return r;
}

static void
add_file(const char *driver, const char *node, const char *suffix,
         const char *sysfs, int fd, int lessee)
{
    struct file *f = &files[num_files++];

    snprintf(f->name, sizeof(f->name), "%s %s%s", driver, node, suffix);
    snprintf(f->node, sizeof(f->node), "%s", node);
    snprintf(f->sysfs, sizeof(f->sysfs), "%s", sysfs);
    f->fd = fd;
    f->lessee = lessee;
}

/* A lease of a connector, the first CRTC and a plane for it, or -1. */
static int
make_lease(int fd)
{
    drmModeResPtr res;
    drmModePlaneResPtr planes;
    uint32_t objects[3], lessee_id, i;
    int lease = -1;

    if (drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1))
        return -1;
    res = drmModeGetResources(fd);
    planes = drmModeGetPlaneResources(fd);
    if (res && planes && res->count_connectors && res->count_crtcs) {
        objects[0] = res->connectors[0];
        objects[1] = res->crtcs[0];
        for (i = 0; i < planes->count_planes && lease < 0; i++) {
            drmModePlanePtr plane = drmModeGetPlane(fd, planes->planes[i]);

            if (plane && (plane->possible_crtcs & 1)) {
                objects[2] = plane->plane_id;
                lease = drmModeCreateLease(fd, objects, 3, O_CLOEXEC,
                                           &lessee_id);
            }
            drmModeFreePlane(plane);
        }
    }
    drmModeFreePlaneResources(planes);
    drmModeFreeResources(res);
    return lease;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
get_files(void)
{
    DIR *dir = opendir("/sys/class/drm");
    struct dirent *ent;
    char *names[MAX_FILES];
    int num = 0, i;

    if (!dir)
        return;
    while ((ent = readdir(dir)) && num < MAX_FILES) {
        const char *d = ent->d_name;

        if ((strncmp(d, "card", 4) == 0 && d[4] &&
             strspn(d + 4, "0123456789") == strlen(d + 4)) ||
            (strncmp(d, "renderD", 7) == 0 && d[7] &&
             strspn(d + 7, "0123456789") == strlen(d + 7)))
            names[num++] = strdup(d);
    }
    closedir(dir);
    qsort(names, num, sizeof(names[0]), cmp_names);

    for (i = 0; i < num && num_files + 3 <= MAX_FILES; i++) {
        char path[PATH_MAX], link[PATH_MAX], sysfs[PATH_MAX], driver[32];
        drmVersionPtr v;
        int fd, fd2, lease;

        snprintf(link, sizeof(link), "/sys/class/drm/%s/device", names[i]);
        snprintf(path, sizeof(path), "/dev/dri/%s", names[i]);
        if (!realpath(link, sysfs))
            continue;
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            printf("%s: %s\n", path, strerror(errno));
            continue;
        }
        v = drmGetVersion(fd);
        snprintf(driver, sizeof(driver), "%s", v && v->name ? v->name : "?");
        drmFreeVersion(v);

        add_file(driver, names[i], "", sysfs, fd, 0);
        fd2 = open(path, O_RDWR | O_CLOEXEC);
        if (fd2 >= 0)
            add_file(driver, names[i], " (2nd open)", sysfs, fd2, 0);
        if (strcmp(driver, "vkms") == 0 && strncmp(names[i], "card", 4) == 0) {
            /* The first open of a node nobody holds is DRM master. */
            lease = make_lease(fd);
            if (lease >= 0)
                add_file(driver, names[i], " (lessee)", sysfs, lease, 1);
            else
                printf("vkms lease: %s\n", strerror(errno));
        }
    }
    for (i = 0; i < num; i++)
        free(names[i]);
}

enum pair_class {
    SAME_FD, SECOND_OPEN, LEASE, OTHER_NODE, OTHER_DEVICE, NUM_CLASSES
};

static const char *const class_names[NUM_CLASSES] = {
    "same fd", "second open", "lessee/lessor", "other node, one device",
    "other device",
};

struct tally {
    int pairs, right, merged, split, failed;
};

static enum pair_class
classify(int i, int j)
{
    if (i == j)
        return SAME_FD;
    if (strcmp(files[i].sysfs, files[j].sysfs))
        return OTHER_DEVICE;
    if (files[i].lessee || files[j].lessee)
        return LEASE;
    if (strcmp(files[i].node, files[j].node) == 0)
        return SECOND_OPEN;
    return OTHER_NODE;
}

static void
run(const char *label, const char *phase)
{
    struct tally all = {0}, by_class[NUM_CLASSES] = {{0}};
    int i, j, init_failed = 0;

    /* Each file alone, as the code under test does it. */
    answer_get_client = 0;
    for (i = 0; i < num_files; i++) {
        amdgpu_device_handle a = NULL;
        uint32_t major, minor;

        if (amdgpu_device_initialize(files[i].fd, &major, &minor, &a)) {
            init_failed++;
            printf("INIT %s %s: %s: amdgpu_device_initialize() failed\n",
                   label, phase, files[i].name);
        } else {
            amdgpu_device_deinitialize(a);
        }
    }
    answer_get_client = 1;

    for (i = 0; i < num_files; i++) {
        for (j = 0; j < num_files; j++) {
            amdgpu_device_handle a = NULL, b = NULL;
            uint32_t major, minor;
            int truth = strcmp(files[i].sysfs, files[j].sysfs) == 0;
            struct tally *c = &by_class[classify(i, j)];
            int r1, r2, objects = 0;
            const char *verdict;

            r1 = amdgpu_device_initialize(files[i].fd, &major, &minor, &a);
            r2 = amdgpu_device_initialize(files[j].fd, &major, &minor, &b);
            if (r1 || r2) {
                verdict = "failed";
                all.failed++;
                c->failed++;
            } else {
                objects = a == b ? 1 : 2;
                if (objects == (truth ? 1 : 2)) {
                    verdict = "right";
                    all.right++;
                    c->right++;
                } else if (objects == 1) {
                    verdict = "MERGED";
                    all.merged++;
                    c->merged++;
                } else {
                    verdict = "split";
                    all.split++;
                    c->split++;
                }
            }
            all.pairs++;
            c->pairs++;
            if (verbose)
                printf("PAIR %s %s: %s, %s: %d object(s), %s\n", label, phase,
                       files[i].name, files[j].name, objects, verdict);
            if (a)
                amdgpu_device_deinitialize(a);
            if (b)
                amdgpu_device_deinitialize(b);
        }
    }

    printf("DEDUP %s %s: pairs=%d right=%d merged=%d split=%d failed=%d "
           "files=%d init_failed=%d\n", label, phase, all.pairs, all.right,
           all.merged, all.split, all.failed, num_files, init_failed);
    for (i = 0; i < NUM_CLASSES; i++)
        printf("CLASS %s %s: %s: pairs=%d right=%d merged=%d split=%d "
               "failed=%d\n", label, phase, class_names[i], by_class[i].pairs,
               by_class[i].right, by_class[i].merged, by_class[i].split,
               by_class[i].failed);
}

int
main(int argc, char **argv)
{
    const char *label = "?";
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else
            label = argv[i];
    }

    get_files();
    if (num_files == 0) {
        printf("DEDUP %s: no DRM file could be opened\n", label);
        return 1;
    }
    for (i = 0; i < num_files; i++)
        printf("FILE %s: %s\n", files[i].name, files[i].sysfs);

    /* Whether the kernel has the ioctl (the code under test asks itself). */
    {
        struct drm_file_same args = { .fd = files[0].fd };
        int r = drmIoctl(files[0].fd, DRM_IOCTL_FILE_SAME, &args);

        printf("IOCTL %s: DRM_IOCTL_FILE_SAME %s\n", label,
               r == 0 ? "answers" : strerror(errno));
    }

    run(label, "sys");

    if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
        umount2("/sys", MNT_DETACH) || access("/sys/class/drm", F_OK) == 0) {
        printf("DEDUP %s nosys: not run (%s)\n", label, strerror(errno));
        return 1;
    }
    run(label, "nosys");

    for (i = 0; i < num_files; i++)
        close(files[i].fd);
    return 0;
}
