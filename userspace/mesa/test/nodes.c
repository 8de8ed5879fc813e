/*
 * The guest's DRM files and the sysfs truth about them (see nodes.h).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "nodes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

struct drm_file_info files[MAX_FILES];
int num_files;

static void
die(const char *what)
{
   fprintf(stderr, "nodes: %s: %s\n", what, strerror(errno));
   exit(2);
}

static int
node_filter(const struct dirent *ent)
{
   return !strncmp(ent->d_name, "card", 4) || !strncmp(ent->d_name, "renderD", 7);
}

static void
read_link_base(const char *path, char *out, size_t size)
{
   char buf[PATH_MAX];
   ssize_t n = readlink(path, buf, sizeof(buf) - 1);

   out[0] = '\0';
   if (n <= 0)
      return;
   buf[n] = '\0';
   snprintf(out, size, "%s", basename(buf));
}

static unsigned
read_hex(const char *dir, const char *name)
{
   char path[PATH_MAX], buf[32] = "";
   FILE *f;

   snprintf(path, sizeof(path), "%s/%s", dir, name);
   f = fopen(path, "r");
   if (!f)
      return 0;
   if (!fgets(buf, sizeof(buf), f))
      buf[0] = '\0';
   fclose(f);
   return (unsigned)strtoul(buf, NULL, 16);
}

static struct drm_file_info *
add_file(const struct drm_file_info *like, int fd, const char *suffix)
{
   struct drm_file_info *f;
   struct stat st;

   if (num_files == MAX_FILES) {
      fprintf(stderr, "nodes: more than %d files\n", MAX_FILES);
      exit(2);
   }
   f = &files[num_files++];
   *f = *like;
   f->fd = fd;
   if (fstat(fd, &st))
      die("fstat");
   f->rdev = st.st_rdev;
   char label[sizeof(f->label)];
   snprintf(label, sizeof(label), "%s(%s)%s", like->node, like->driver, suffix);
   memcpy(f->label, label, sizeof(label));
   return f;
}

/* A lease of vkms's first CRTC, its first connector and a plane of that CRTC,
 * from the card node's first open (master: nothing else runs in the guest).
 */
static int
make_lease(int fd)
{
   drmModeResPtr res;
   drmModePlaneResPtr planes;
   uint32_t objects[3], lessee;
   int lease_fd = -1;

   if (drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1))
      return -1;
   res = drmModeGetResources(fd);
   planes = drmModeGetPlaneResources(fd);
   if (res && planes && res->count_crtcs && res->count_connectors) {
      objects[0] = res->crtcs[0];
      objects[1] = res->connectors[0];
      objects[2] = 0;
      for (uint32_t i = 0; i < planes->count_planes && !objects[2]; i++) {
         drmModePlanePtr plane = drmModeGetPlane(fd, planes->planes[i]);
         if (plane && (plane->possible_crtcs & 1))
            objects[2] = plane->plane_id;
         drmModeFreePlane(plane);
      }
      if (objects[2])
         lease_fd = drmModeCreateLease(fd, objects, 3, O_CLOEXEC, &lessee);
   }
   drmModeFreePlaneResources(planes);
   drmModeFreeResources(res);
   return lease_fd;
}

void
nodes_open_all(void)
{
   struct dirent **ents;
   int n = scandir("/dev/dri", &ents, node_filter, alphasort);
   int first_files;

   if (n < 0)
      die("/dev/dri");

   for (int i = 0; i < n; i++) {
      struct drm_file_info info;
      char path[PATH_MAX], link[PATH_MAX], subsystem[32];
      int fd;

      memset(&info, 0, sizeof(info));
      snprintf(info.node, sizeof(info.node), "%s", ents[i]->d_name);
      info.render = !strncmp(info.node, "renderD", 7);
      snprintf(link, sizeof(link), "/sys/class/drm/%s/device", info.node);
      if (!realpath(link, info.device)) {
         fprintf(stderr, "nodes: %s: no sysfs device (is /sys mounted?)\n", info.node);
         exit(2);
      }
      snprintf(path, sizeof(path), "%s/driver", link);
      read_link_base(path, info.bus_driver, sizeof(info.bus_driver));
      snprintf(path, sizeof(path), "%s/subsystem", link);
      read_link_base(path, subsystem, sizeof(subsystem));
      if (!strcmp(subsystem, "pci")) {
         snprintf(info.pci_slot, sizeof(info.pci_slot), "%s", basename(info.device));
         info.vendor = read_hex(info.device, "vendor");
         info.device_id = read_hex(info.device, "device");
      }

      snprintf(path, sizeof(path), "/dev/dri/%s", info.node);
      fd = open(path, O_RDWR | O_CLOEXEC);
      if (fd < 0)
         die(path);
      drmVersionPtr version = drmGetVersion(fd);
      snprintf(info.driver, sizeof(info.driver), "%s", version ? version->name : "?");
      drmFreeVersion(version);
      add_file(&info, fd, "");
      free(ents[i]);
   }
   free(ents);

   /* Second opens, and the lease */
   first_files = num_files;
   for (int i = 0; i < first_files; i++) {
      char path[PATH_MAX];
      int fd;

      snprintf(path, sizeof(path), "/dev/dri/%s", files[i].node);
      fd = open(path, O_RDWR | O_CLOEXEC);
      if (fd < 0)
         die(path);
      add_file(&files[i], fd, "#2")->second = true;
   }
   for (int i = 0; i < first_files; i++) {
      if (!strcmp(files[i].driver, "vkms") && !files[i].render) {
         int fd = make_lease(files[i].fd);
         struct drm_file_info *f;

         if (fd < 0) {
            fprintf(stderr, "nodes: cannot create a lease on %s\n", files[i].label);
            exit(2);
         }
         f = add_file(&files[i], fd, "");
         f->lease = true;
         snprintf(f->label, sizeof(f->label), "lease(%s,%s)", files[i].node,
                  files[i].driver);
         break;
      }
   }

   /* What each device's driver reports as its nodes */
   for (int i = 0; i < num_files; i++) {
      for (int j = 0; j < first_files; j++) {
         if (strcmp(files[i].device, files[j].device))
            continue;
         if (files[j].render) {
            files[i].has_render = true;
            files[i].render_rdev = files[j].rdev;
         } else {
            files[i].has_primary = true;
            files[i].primary_rdev = files[j].rdev;
         }
      }
   }
}

bool
nodes_same_device(const struct drm_file_info *a, const struct drm_file_info *b)
{
   return !strcmp(a->device, b->device);
}

const struct drm_file_info *
nodes_by_rdev(dev_t rdev)
{
   for (int i = 0; i < num_files; i++)
      if (files[i].rdev == rdev)
         return &files[i];
   return NULL;
}

int
nodes_unmount_sys(void)
{
   struct stat st;

   if (unshare(CLONE_NEWNS)) {
      perror("nodes: unshare(CLONE_NEWNS)");
      return -1;
   }
   if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
      perror("nodes: making / private");
      return -1;
   }
   if (umount2("/sys", MNT_DETACH)) {
      perror("nodes: umount /sys");
      return -1;
   }
   if (stat("/sys/class/drm", &st) == 0) {
      fprintf(stderr, "nodes: /sys/class/drm still there after unmounting /sys\n");
      return -1;
   }
   return 0;
}

void
tally_add(struct tally *t, const char *verdict)
{
   if (!strcmp(verdict, "right"))
      t->right++;
   else if (!strcmp(verdict, "wrong"))
      t->wrong++;
   else
      t->cannot++;
}
