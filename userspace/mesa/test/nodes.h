/*
 * The guest's DRM files and the sysfs truth about them, for the Mesa harnesses.
 *
 * Every DRM node of /dev/dri is opened twice (the node and a second open of
 * it), and a lease is created on vkms's card node: the files the harnesses
 * compare. The truth comes from sysfs, read before /sys is unmounted: two
 * files are of one device when /sys/class/drm/<node>/device resolves to the
 * same directory (a lease is a file of its lessor's node).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef FDSAME_MESA_NODES_H
#define FDSAME_MESA_NODES_H

#include <stdbool.h>
#include <sys/types.h>

#define MAX_FILES 64

struct drm_file_info {
   char label[48];       /* "card1(vkms)", "card1(vkms)#2", "lease(card1,vkms)" */
   char node[64];        /* card1, renderD128 */
   char driver[32];      /* the DRM driver (drmGetVersion(): vkms, vgem, ...) */
   char bus_driver[32];  /* the device's driver in sysfs (faux_driver, virtio-pci) */
   char device[256];     /* realpath of /sys/class/drm/<node>/device: the truth */
   char pci_slot[32];    /* "0000:00:0a.0" for PCI devices, else "" */
   unsigned vendor, device_id; /* PCI ids, 0 if not PCI */
   bool render;          /* a render node */
   bool second;          /* a second open of the node */
   bool lease;           /* a lease */
   dev_t rdev;
   int fd;
   /* The device's nodes (what VkPhysicalDeviceDrmPropertiesEXT reports) */
   bool has_primary, has_render;
   dev_t primary_rdev, render_rdev;
};

extern struct drm_file_info files[MAX_FILES];
extern int num_files;

/* Opens every node twice and makes the vkms lease; fills the truth. Exits
 * with a message (status 2) if something needed is missing. */
void nodes_open_all(void);

/* Same device, by the sysfs truth. */
bool nodes_same_device(const struct drm_file_info *a, const struct drm_file_info *b);

/* The file whose device is that of rdev (any node of it), or NULL. */
const struct drm_file_info *nodes_by_rdev(dev_t rdev);

/* Unmounts /sys in a private mount namespace (root only). Returns 0, or -1
 * with a message. */
int nodes_unmount_sys(void);

/* "verdict" counters */
struct tally {
   int right, wrong, cannot;
};

void tally_add(struct tally *t, const char *verdict);

#endif
