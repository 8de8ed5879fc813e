/*
 * Mesa's Vulkan WSI device matching on every ordered pair of the guest's DRM
 * files, against the sysfs truth, with /sys and without it.
 *
 * Linked with src/vulkan/wsi/wsi_common_drm.c as Mesa compiles it (the flags
 * of compile_commands.json): once the unpatched file ("before"), once the
 * patched one ("after"). It calls Mesa's own functions:
 *  - wsi_device_matches_drm_fd(physical device of B, fd A): the default
 *    can_present_on_device (patch 0001);
 *  - wsi_common_drm_devices_equal(fd A, fd B), fd B the driver's own: turnip's
 *    and v3dv's can_present_on_device (patch 0005, DRM_FILE_SAME_DEVICE).
 * The physical device of a file is a zeroed vk_physical_device whose
 * wsi_device carries what a driver reports for the file's device:
 * VkPhysicalDeviceDrmPropertiesEXT (its card and render node) and its PCI bus
 * information. Both functions answer true/false, so every answer is right or
 * wrong; there is no "cannot tell".
 *
 * Output: "PAIR fn variant phase A B truth=... got=... verdict" per pair,
 * then "TALLY fn variant phase right wrong cannot total". Exit 0 when it ran (the
 * verdicts are judged by guest.sh), 2 when it could not.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "nodes.h"
#include "vk_physical_device.h"
#include "wsi_common.h"
#include "wsi_common_drm.h"
#include "wsi_common_private.h"

#ifndef VARIANT
#define VARIANT "?"
#endif

static struct vk_physical_device pdevs[MAX_FILES];
static struct wsi_device wsis[MAX_FILES];

static void
make_physical_device(int i)
{
   const struct drm_file_info *f = &files[i];
   struct wsi_device *wsi = &wsis[i];
   unsigned dom, bus, dev, func;

   memset(&pdevs[i], 0, sizeof(pdevs[i]));
   memset(wsi, 0, sizeof(*wsi));
   pdevs[i].base.type = VK_OBJECT_TYPE_PHYSICAL_DEVICE;
   pdevs[i].wsi_device = wsi;

   wsi->drm_info.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRM_PROPERTIES_EXT;
   wsi->drm_info.hasPrimary = f->has_primary;
   wsi->drm_info.primaryMajor = major(f->primary_rdev);
   wsi->drm_info.primaryMinor = minor(f->primary_rdev);
   wsi->drm_info.hasRender = f->has_render;
   wsi->drm_info.renderMajor = major(f->render_rdev);
   wsi->drm_info.renderMinor = minor(f->render_rdev);
   wsi->pci_bus_info.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PCI_BUS_INFO_PROPERTIES_EXT;
   if (f->pci_slot[0] &&
       sscanf(f->pci_slot, "%x:%x:%x.%x", &dom, &bus, &dev, &func) == 4) {
      wsi->pci_bus_info.pciDomain = dom;
      wsi->pci_bus_info.pciBus = bus;
      wsi->pci_bus_info.pciDevice = dev;
      wsi->pci_bus_info.pciFunction = func;
   }
}

static void
run(const char *phase)
{
   static const char *fns[] = { "wsi_device_matches_drm_fd", "wsi_common_drm_devices_equal" };

   for (unsigned fn = 0; fn < 2; fn++) {
      struct tally t = { 0 };

      for (int a = 0; a < num_files; a++) {
         for (int b = 0; b < num_files; b++) {
            bool truth = nodes_same_device(&files[a], &files[b]);
            bool got;

            if (fn == 0)
               got = wsi_device_matches_drm_fd(vk_physical_device_to_handle(&pdevs[b]),
                                               files[a].fd);
            else
               got = wsi_common_drm_devices_equal(files[a].fd, files[b].fd);

            const char *verdict = got == truth ? "right" : "wrong";
            tally_add(&t, verdict);
            printf("PAIR %s %s %s %s %s truth=%s got=%s %s\n", fns[fn], VARIANT,
                   phase, files[a].label, files[b].label, truth ? "same" : "different",
                   got ? "same" : "different", verdict);
         }
      }
      printf("TALLY %s %s %s %d %d %d %d\n", fns[fn], VARIANT, phase,
             t.right, t.wrong, t.cannot, num_files * num_files);
   }
}

int
main(int argc, char **argv)
{
   bool with_nosys = argc > 1 && !strcmp(argv[1], "--nosys");

   nodes_open_all();
   for (int i = 0; i < num_files; i++) {
      make_physical_device(i);
      printf("FILE %s node=%s driver=%s bus_driver=%s device=%s\n", files[i].label,
             files[i].node, files[i].driver, files[i].bus_driver, files[i].device);
   }

   run("sys");
   if (with_nosys) {
      if (nodes_unmount_sys())
         return 2;
      run("nosys");
   }
   return 0;
}
