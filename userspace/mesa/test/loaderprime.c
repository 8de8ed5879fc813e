/*
 * Mesa's loader DRI_PRIME selection, loader_get_user_preferred_fd(), from
 * every DRM file of the guest as the default GPU's fd, with every DRI_PRIME
 * form that names a device of the guest, against the sysfs truth, with /sys
 * and without it.
 *
 * Linked with src/loader/loader.c as Mesa compiles it (the flags of
 * compile_commands.json): once the unpatched file ("before"), once the
 * patched one ("after"), with the build's libmesa_util.a and libxmlconfig.a.
 *
 * The cases, for each default file A (every node, a second open of each, a
 * lease of vkms):
 *  - DRI_PRIME=1, "another GPU": right is a render node of a device other
 *    than A's, and true ("different GPU"); if the guest has no other device
 *    with a render node, right is A and false;
 *  - DRI_PRIME=pci-DDDD_BB_DD_F, the tag of each PCI device, and
 *    DRI_PRIME=vendor:device, the ids of each PCI device: right is the named
 *    device's render node and true when it is not A's device; A and false when
 *    it is A's device or has no render node (bochs).
 * The loader answers "cannot tell" by falling back to the default GPU (A and
 * false) where the truth is another device: counted as cannot tell. Any other
 * answer that is not right is wrong.
 *
 * The harness also counts the DRM nodes the loader opens in each case (its
 * open() calls on /dev/dri paths, including the node it selects): opening a
 * node can resume a runtime-suspended GPU (amdgpu, nouveau), so a node
 * opened only to be compared or skipped is a cost.
 *
 * Output: "CASE variant phase A DRI_PRIME=v expect=... got=... opens=N
 * verdict" per case, then "TALLY loader variant phase right wrong cannot
 * total opens". Exit 0 when it ran, 2 when it could not.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "nodes.h"

#ifndef VARIANT
#define VARIANT "?"
#endif

/* From src/loader/loader.h; declared here so that only loader.c's object
 * (before or after) and Mesa's libraries are needed. */
bool loader_get_user_preferred_fd(int *fd_render_gpu, int *original_fd);

/* open() of this program, and so of loader.c's object linked into it: counts
 * the DRM nodes opened while counting is on, then opens as libc would. */
static bool counting;
static int node_opens;

static int
counted_open(const char *path, int flags, va_list ap)
{
   mode_t mode = 0;

   if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
      mode = va_arg(ap, mode_t);
   if (counting && path && !strncmp(path, "/dev/dri/", 9))
      node_opens++;
   return syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

int
open(const char *path, int flags, ...)
{
   va_list ap;
   va_start(ap, flags);
   int ret = counted_open(path, flags, ap);
   va_end(ap);
   return ret;
}

int
open64(const char *path, int flags, ...)
{
   va_list ap;
   va_start(ap, flags);
   int ret = counted_open(path, flags, ap);
   va_end(ap);
   return ret;
}

struct prime_case {
   char value[64];
   /* The device named (tag, vendor:device), or "" for "another GPU" */
   char device[256];
   unsigned vendor, device_id; /* for vendor:device: every match */
   bool by_ids;
};

static struct prime_case cases[MAX_FILES * 2 + 1];
static int num_cases;

static bool
device_has_render(const char *device)
{
   for (int i = 0; i < num_files; i++)
      if (files[i].render && !strcmp(files[i].device, device))
         return true;
   return false;
}

static void
make_cases(void)
{
   snprintf(cases[num_cases++].value, sizeof(cases[0].value), "1");

   for (int i = 0; i < num_files; i++) {
      unsigned dom, bus, dev, func;
      bool seen = false;

      if (files[i].second || files[i].lease || !files[i].pci_slot[0])
         continue;
      for (int j = 0; j < i; j++)
         if (!files[j].second && !strcmp(files[j].device, files[i].device))
            seen = true;
      if (seen)
         continue;
      if (sscanf(files[i].pci_slot, "%x:%x:%x.%x", &dom, &bus, &dev, &func) != 4)
         continue;
      struct prime_case *c = &cases[num_cases++];
      snprintf(c->value, sizeof(c->value), "pci-%04x_%02x_%02x_%1u", dom, bus, dev, func);
      snprintf(c->device, sizeof(c->device), "%s", files[i].device);

      /* One vendor:device case per pair of ids */
      seen = false;
      for (int k = 0; k < num_cases - 1; k++)
         if (cases[k].by_ids && cases[k].vendor == files[i].vendor &&
             cases[k].device_id == files[i].device_id)
            seen = true;
      if (seen)
         continue;
      c = &cases[num_cases++];
      c->by_ids = true;
      c->vendor = files[i].vendor;
      c->device_id = files[i].device_id;
      snprintf(c->value, sizeof(c->value), "%04x:%04x", c->vendor, c->device_id);
   }
}

/* Whether the loader, from default file a, may select device dev */
static bool
is_target(const struct prime_case *c, const struct drm_file_info *a, const char *dev)
{
   if (!device_has_render(dev))
      return false;
   if (c->by_ids) {
      for (int i = 0; i < num_files; i++)
         if (!strcmp(files[i].device, dev) && files[i].vendor == c->vendor &&
             files[i].device_id == c->device_id)
            return true;
      return false;
   }
   if (c->device[0])
      return !strcmp(c->device, dev);
   return strcmp(a->device, dev) != 0; /* "another GPU" */
}

static void
run(const char *phase)
{
   struct tally t = { 0 };
   int total = 0, opens = 0;

   for (int a = 0; a < num_files; a++) {
      for (int k = 0; k < num_cases; k++) {
         const struct prime_case *c = &cases[k];
         bool expect_switch = false, want_diff = false;
         char expect[1024] = "", got[1024];
         const char *verdict;

         /* The truth: which devices would be right, and "different"? */
         for (int i = 0; i < num_files; i++) {
            if (files[i].second || files[i].lease || !files[i].render)
               continue;
            if (is_target(c, &files[a], files[i].device)) {
               if (strcmp(files[i].device, files[a].device)) {
                  expect_switch = true;
                  want_diff = true;
                  snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect),
                           "%s%s", expect[0] ? "|" : "", files[i].label);
               }
            }
         }
         if (!expect_switch)
            snprintf(expect, sizeof(expect), "default");

         setenv("DRI_PRIME", c->value, 1);
         int fd = files[a].fd, original = -1;
         node_opens = 0;
         counting = true;
         bool diff = loader_get_user_preferred_fd(&fd, &original);
         counting = false;
         opens += node_opens;
         unsetenv("DRI_PRIME");

         const struct drm_file_info *sel = NULL;
         if (fd != files[a].fd) {
            struct stat st;
            if (fstat(fd, &st) == 0)
               sel = nodes_by_rdev(st.st_rdev);
            close(fd);
            snprintf(got, sizeof(got), "%s,%s", sel ? sel->label : "?",
                     diff ? "different" : "same");
         } else {
            snprintf(got, sizeof(got), "default,%s", diff ? "different" : "same");
         }

         if (!expect_switch) {
            verdict = fd == files[a].fd && !diff ? "right" : "wrong";
         } else if (fd == files[a].fd && !diff) {
            verdict = "cannot-tell";
         } else {
            verdict = sel && diff == want_diff && fd != files[a].fd &&
                      strcmp(sel->device, files[a].device) &&
                      is_target(c, &files[a], sel->device) ? "right" : "wrong";
         }
         if (original != files[a].fd)
            verdict = "wrong"; /* the display GPU's fd must be kept */
         tally_add(&t, verdict);
         total++;
         printf("CASE %s %s %s DRI_PRIME=%s expect=%s got=%s opens=%d %s\n", VARIANT,
                phase, files[a].label, c->value, expect, got, node_opens, verdict);
      }
   }
   printf("TALLY loader %s %s %d %d %d %d %d\n", VARIANT, phase, t.right, t.wrong,
          t.cannot, total, opens);
}

int
main(int argc, char **argv)
{
   bool with_nosys = argc > 1 && !strcmp(argv[1], "--nosys");

   nodes_open_all();
   make_cases();
   for (int i = 0; i < num_files; i++)
      printf("FILE %s node=%s driver=%s bus_driver=%s device=%s\n", files[i].label,
             files[i].node, files[i].driver, files[i].bus_driver, files[i].device);

   run("sys");
   if (with_nosys) {
      if (nodes_unmount_sys())
         return 2;
      run("nosys");
   }
   return 0;
}
