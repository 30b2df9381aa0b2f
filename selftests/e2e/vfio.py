# SPDX-License-Identifier: GPL-2.0
"""
The vfio side of the rig, without QEMU: the devices and their drivers in
sysfs, opening a device through its group the way QEMU's legacy path does,
asking its driver whether it offers DMA logging, who holds a device open,
whether the iommufd backend can be used, and binding the bochs-display
functions for a run.

The VFIO ioctl numbers and struct sizes below mirror <linux/vfio.h> (the
6.12 uapi header the selftests build with, build/uapi): C_MIRROR names the
C expression each one must equal, and selftests/e2e/check-consts checks
them (host suite e2e-consts of make check).
"""

import ctypes
import errno
import fcntl
import os
import struct
import subprocess

from .common import HarnessError

EDU_VENDOR, EDU_DEVICE = '0x1234', '0x11e8'
DRIVER = 'livemig-vfio-pci'
VFIO_DRIVERS = (DRIVER, 'vfio-pci')


def _vfio_io(nr):
    return (ord(';') << 8) | (100 + nr)         # _IO(VFIO_TYPE, VFIO_BASE + nr)


VFIO_SET_IOMMU = _vfio_io(2)
VFIO_IOMMU_MAP_DMA = _vfio_io(13)
VFIO_IOMMU_UNMAP_DMA = _vfio_io(14)
VFIO_GROUP_GET_STATUS = _vfio_io(3)
VFIO_GROUP_SET_CONTAINER = _vfio_io(4)
VFIO_GROUP_GET_DEVICE_FD = _vfio_io(6)
VFIO_DEVICE_GET_REGION_INFO = _vfio_io(8)
VFIO_DEVICE_RESET = _vfio_io(11)
VFIO_MIG_GET_PRECOPY_INFO = _vfio_io(21)
VFIO_DEVICE_FEATURE = _vfio_io(17)
VFIO_TYPE1v2_IOMMU = 3
VFIO_PCI_CONFIG_REGION_INDEX = 7
VFIO_GROUP_FLAGS_VIABLE = 1
VFIO_DEVICE_FEATURE_SET = 1 << 17
VFIO_DEVICE_FEATURE_PROBE = 1 << 18
VFIO_DEVICE_FEATURE_DMA_LOGGING_START = 6
VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP = 7
VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT = 8
VFIO_DMA_MAP_FLAG_READ = 1
VFIO_DMA_MAP_FLAG_WRITE = 2
VFIO_DEVICE_FEATURE_GET = 1 << 16
VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE = 2
VFIO_DEVICE_FEATURE_MIG_DATA_SIZE = 9
VFIO_DEVICE_STATE_ERROR = 0
VFIO_DEVICE_STATE_STOP = 1
VFIO_DEVICE_STATE_RUNNING = 2
VFIO_DEVICE_STATE_STOP_COPY = 3
VFIO_DEVICE_STATE_RESUMING = 4
VFIO_DEVICE_STATE_RUNNING_P2P = 5
VFIO_DEVICE_STATE_PRE_COPY = 6
VFIO_REGION_INFO_SIZE = 32
VFIO_MIG_STATE_SIZE = 8
# The structs, packed here as '=II' (argsz, flags) and a zeroed payload.
VFIO_GROUP_STATUS_SIZE = 8
VFIO_DEVICE_FEATURE_SIZE = 8
VFIO_DMA_LOGGING_CONTROL_SIZE = 24
VFIO_DMA_LOGGING_RANGE_SIZE = 16
VFIO_DMA_LOGGING_REPORT_SIZE = 32
VFIO_DMA_MAP_SIZE = 32
VFIO_DMA_UNMAP_SIZE = 24
VFIO_PRECOPY_INFO_SIZE = 24
VFIO_MIG_DATA_SIZE_SIZE = 8

# Each constant above and the C expression it mirrors.
C_MIRROR = {
    'VFIO_SET_IOMMU': 'VFIO_SET_IOMMU',
    'VFIO_IOMMU_MAP_DMA': 'VFIO_IOMMU_MAP_DMA',
    'VFIO_IOMMU_UNMAP_DMA': 'VFIO_IOMMU_UNMAP_DMA',
    'VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP':
        'VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP',
    'VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT':
        'VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT',
    'VFIO_DMA_MAP_FLAG_READ': 'VFIO_DMA_MAP_FLAG_READ',
    'VFIO_DMA_MAP_FLAG_WRITE': 'VFIO_DMA_MAP_FLAG_WRITE',
    'VFIO_DMA_LOGGING_RANGE_SIZE':
        'sizeof(struct vfio_device_feature_dma_logging_range)',
    'VFIO_DMA_LOGGING_REPORT_SIZE':
        'sizeof(struct vfio_device_feature_dma_logging_report)',
    'VFIO_DMA_MAP_SIZE': 'sizeof(struct vfio_iommu_type1_dma_map)',
    'VFIO_DMA_UNMAP_SIZE': 'sizeof(struct vfio_iommu_type1_dma_unmap)',
    'VFIO_GROUP_GET_STATUS': 'VFIO_GROUP_GET_STATUS',
    'VFIO_GROUP_SET_CONTAINER': 'VFIO_GROUP_SET_CONTAINER',
    'VFIO_GROUP_GET_DEVICE_FD': 'VFIO_GROUP_GET_DEVICE_FD',
    'VFIO_DEVICE_FEATURE': 'VFIO_DEVICE_FEATURE',
    'VFIO_DEVICE_GET_REGION_INFO': 'VFIO_DEVICE_GET_REGION_INFO',
    'VFIO_DEVICE_RESET': 'VFIO_DEVICE_RESET',
    'VFIO_MIG_GET_PRECOPY_INFO': 'VFIO_MIG_GET_PRECOPY_INFO',
    'VFIO_DEVICE_FEATURE_MIG_DATA_SIZE': 'VFIO_DEVICE_FEATURE_MIG_DATA_SIZE',
    'VFIO_PRECOPY_INFO_SIZE': 'sizeof(struct vfio_precopy_info)',
    'VFIO_MIG_DATA_SIZE_SIZE':
        'sizeof(struct vfio_device_feature_mig_data_size)',
    'VFIO_DEVICE_FEATURE_GET': 'VFIO_DEVICE_FEATURE_GET',
    'VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE':
        'VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE',
    'VFIO_DEVICE_STATE_ERROR': 'VFIO_DEVICE_STATE_ERROR',
    'VFIO_DEVICE_STATE_STOP': 'VFIO_DEVICE_STATE_STOP',
    'VFIO_DEVICE_STATE_RUNNING': 'VFIO_DEVICE_STATE_RUNNING',
    'VFIO_DEVICE_STATE_STOP_COPY': 'VFIO_DEVICE_STATE_STOP_COPY',
    'VFIO_DEVICE_STATE_RESUMING': 'VFIO_DEVICE_STATE_RESUMING',
    'VFIO_DEVICE_STATE_RUNNING_P2P': 'VFIO_DEVICE_STATE_RUNNING_P2P',
    'VFIO_DEVICE_STATE_PRE_COPY': 'VFIO_DEVICE_STATE_PRE_COPY',
    'VFIO_REGION_INFO_SIZE': 'sizeof(struct vfio_region_info)',
    'VFIO_MIG_STATE_SIZE': 'sizeof(struct vfio_device_feature_mig_state)',
    'VFIO_TYPE1v2_IOMMU': 'VFIO_TYPE1v2_IOMMU',
    'VFIO_PCI_CONFIG_REGION_INDEX': 'VFIO_PCI_CONFIG_REGION_INDEX',
    'VFIO_GROUP_FLAGS_VIABLE': 'VFIO_GROUP_FLAGS_VIABLE',
    'VFIO_DEVICE_FEATURE_SET': 'VFIO_DEVICE_FEATURE_SET',
    'VFIO_DEVICE_FEATURE_PROBE': 'VFIO_DEVICE_FEATURE_PROBE',
    'VFIO_DEVICE_FEATURE_DMA_LOGGING_START':
        'VFIO_DEVICE_FEATURE_DMA_LOGGING_START',
    'VFIO_GROUP_STATUS_SIZE': 'sizeof(struct vfio_group_status)',
    'VFIO_DEVICE_FEATURE_SIZE': 'sizeof(struct vfio_device_feature)',
    'VFIO_DMA_LOGGING_CONTROL_SIZE':
        'sizeof(struct vfio_device_feature_dma_logging_control)',
}
C_HEADERS = ('<linux/vfio.h>',)


# --- sysfs -------------------------------------------------------------------

def sysfs(bdf, attr):
    try:
        with open('/sys/bus/pci/devices/%s/%s' % (bdf, attr)) as f:
            return f.read().strip()
    except OSError:
        return None


def driver_of(bdf):
    link = '/sys/bus/pci/devices/%s/driver' % bdf
    return os.path.basename(os.path.realpath(link)) \
        if os.path.exists(link) else None


def write(path, val):
    with open(path, 'w') as f:
        f.write(val)


# --- opening a device, asking its driver ------------------------------------

def open_vfio_device(bdf, fds):
    """
    Open @bdf the way QEMU's legacy path does: a type1 container, the
    device's group, VFIO_GROUP_GET_DEVICE_FD.  Every fd opened is appended
    to @fds (the caller closes them).  Returns the device fd; raises
    OSError, or HarnessError when the group is not viable.
    """
    grp = os.path.basename(os.readlink(
        '/sys/bus/pci/devices/%s/iommu_group' % bdf))
    cfd = os.open('/dev/vfio/vfio', os.O_RDWR)
    fds.append(cfd)
    gfd = os.open('/dev/vfio/' + grp, os.O_RDWR)
    fds.append(gfd)
    st = bytearray(struct.pack('=II', VFIO_GROUP_STATUS_SIZE, 0))
    fcntl.ioctl(gfd, VFIO_GROUP_GET_STATUS, st)
    if not struct.unpack('=II', st)[1] & VFIO_GROUP_FLAGS_VIABLE:
        raise HarnessError('group %s is not viable' % grp)
    fcntl.ioctl(gfd, VFIO_GROUP_SET_CONTAINER,
                bytearray(struct.pack('=i', cfd)))
    fcntl.ioctl(cfd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)
    dfd = fcntl.ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD,
                      bytearray(bdf.encode() + b'\0'))
    fds.append(dfd)
    return dfd


def region_offset(dfd, index):
    """The offset of region @index (a BAR) in the device fd @dfd."""
    info = bytearray(struct.pack('=IIIIQQ', VFIO_REGION_INFO_SIZE, 0, index,
                                 0, 0, 0))
    fcntl.ioctl(dfd, VFIO_DEVICE_GET_REGION_INFO, info)
    return struct.unpack('=IIIIQQ', info)[5]


def set_mig_state(dfd, state):
    """Move @dfd's device to @state; the data fd the arc opened, or -1.
    Raises OSError with the driver's errno."""
    arg = bytearray(struct.pack('=IIIi', VFIO_DEVICE_FEATURE_SIZE +
                                VFIO_MIG_STATE_SIZE,
                                VFIO_DEVICE_FEATURE_SET |
                                VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                                state, -1))
    fcntl.ioctl(dfd, VFIO_DEVICE_FEATURE, arg)
    return struct.unpack('=IIIi', arg)[3]


def precopy_info(fd):
    """VFIO_MIG_GET_PRECOPY_INFO on a PRE_COPY data fd: (initial, dirty)."""
    arg = bytearray(struct.pack('=IIQQ', VFIO_PRECOPY_INFO_SIZE, 0, 0, 0))
    fcntl.ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, arg)
    return struct.unpack('=IIQQ', arg)[2:]


def mig_data_size(dfd):
    """VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: the stop_copy_length estimate."""
    arg = bytearray(struct.pack('=IIQ', VFIO_DEVICE_FEATURE_SIZE +
                                VFIO_MIG_DATA_SIZE_SIZE,
                                VFIO_DEVICE_FEATURE_GET |
                                VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, 0))
    fcntl.ioctl(dfd, VFIO_DEVICE_FEATURE, arg)
    return struct.unpack('=IIQ', arg)[2]


def get_mig_state(dfd):
    arg = bytearray(struct.pack('=IIIi', VFIO_DEVICE_FEATURE_SIZE +
                                VFIO_MIG_STATE_SIZE,
                                VFIO_DEVICE_FEATURE_GET |
                                VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, 0, -1))
    fcntl.ioctl(dfd, VFIO_DEVICE_FEATURE, arg)
    return struct.unpack('=IIIi', arg)[2]


def fresh_open(bdf):
    """Open and close @bdf through vfio: None when it worked, else why."""
    fds = []
    try:
        open_vfio_device(bdf, fds)
        return None
    except (OSError, HarnessError) as e:
        return str(e)
    finally:
        for fd in reversed(fds):
            os.close(fd)


def vfio_paths(bdf):
    """@bdf's vfio character devices: its group and, if any, its cdev."""
    out = []
    d = '/sys/bus/pci/devices/%s' % bdf
    try:
        out.append('/dev/vfio/' + os.path.basename(
            os.readlink(d + '/iommu_group')))
    except OSError:
        pass
    try:
        out += ['/dev/vfio/devices/' + n
                for n in sorted(os.listdir(d + '/vfio-dev'))]
    except OSError:
        pass
    return out


def vfio_holders(paths):
    """Processes with one of @paths open: [(pid, comm, path)]."""
    want = set(paths)
    out = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir('/proc/%s/fd' % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                t = os.readlink('/proc/%s/fd/%s' % (pid, fd))
            except OSError:
                continue
            if t in want:
                try:
                    with open('/proc/%s/comm' % pid) as f:
                        comm = f.read().strip()
                except OSError:
                    comm = '?'
                out.append((int(pid), comm, t))
    return out


def iommufd_unavailable(hosts):
    """
    Why QEMU cannot use the iommufd backend for @hosts here (None if it
    can): it needs /dev/iommu and each device's vfio cdev
    (CONFIG_IOMMUFD, CONFIG_VFIO_DEVICE_CDEV).  In the rig, where the
    guest's kernel is ours to change, load iommufd first if it is a module.
    """
    if not os.path.exists('/dev/iommu') and \
            os.environ.get('LIVEMIG_VM') == '1':
        subprocess.run(['modprobe', 'iommufd'], capture_output=True,
                       timeout=60)
    why = []
    if not os.path.exists('/dev/iommu'):
        why.append('no /dev/iommu (kernel %s without CONFIG_IOMMUFD, '
                   'modprobe iommufd did not add it)' % os.uname().release)
    for h in hosts:
        cdevs = [p for p in vfio_paths(h) if '/devices/' in p]
        if not cdevs:
            why.append('%s has no vfio cdev (no /sys/bus/pci/devices/%s/'
                       'vfio-dev: CONFIG_VFIO_DEVICE_CDEV off)' % (h, h))
        elif not all(os.path.exists(p) for p in cdevs):
            why.append('%s has no %s (vfio-dev in sysfs only: '
                       'CONFIG_VFIO_DEVICE_CDEV off)' % (h, ', '.join(cdevs)))
    return '; '.join(why) or None


def probe_dma_logging(bdf):
    """
    Ask the driver of @bdf whether it offers DMA logging, as QEMU does at
    realize: VFIO_DEVICE_FEATURE_PROBE of DMA_LOGGING_START on the device
    (opened through its group and a type1 container, closed again).
    Returns (True, None), (False, errno name) when the driver says no, or
    (None, error) when the device could not be asked.
    """
    fds = []
    try:
        try:
            dfd = open_vfio_device(bdf, fds)
        except HarnessError as e:
            return None, str(e)
        # struct vfio_device_feature + a dma_logging_control's worth.
        feat = bytearray(struct.pack('=II', VFIO_DEVICE_FEATURE_SIZE +
                                     VFIO_DMA_LOGGING_CONTROL_SIZE,
                                     VFIO_DEVICE_FEATURE_PROBE |
                                     VFIO_DEVICE_FEATURE_SET |
                                     VFIO_DEVICE_FEATURE_DMA_LOGGING_START))
        feat += bytes(VFIO_DMA_LOGGING_CONTROL_SIZE)
        try:
            fcntl.ioctl(dfd, VFIO_DEVICE_FEATURE, feat)
        except OSError as e:
            return False, errno.errorcode.get(e.errno, str(e.errno))
        return True, None
    except OSError as e:
        return None, '%s: %s' % (bdf, e)
    finally:
        for fd in reversed(fds):
            os.close(fd)


def map_dma(cfd, vaddr, iova, size):
    """VFIO_IOMMU_MAP_DMA on the type1 container @cfd, read and write."""
    fcntl.ioctl(cfd, VFIO_IOMMU_MAP_DMA, bytearray(struct.pack(
        '=IIQQQ', VFIO_DMA_MAP_SIZE,
        VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, vaddr, iova,
        size)))


def unmap_dma(cfd, iova, size):
    fcntl.ioctl(cfd, VFIO_IOMMU_UNMAP_DMA, bytearray(struct.pack(
        '=IIQQ', VFIO_DMA_UNMAP_SIZE, 0, iova, size)))


def dma_log_start(dfd, iova, length, page_size):
    """DMA_LOGGING_START of one range; the page size the driver took."""
    rng = ctypes.create_string_buffer(struct.pack('=QQ', iova, length),
                                      VFIO_DMA_LOGGING_RANGE_SIZE)
    arg = bytearray(struct.pack('=IIQIIQ', VFIO_DEVICE_FEATURE_SIZE +
                                VFIO_DMA_LOGGING_CONTROL_SIZE,
                                VFIO_DEVICE_FEATURE_SET |
                                VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
                                page_size, 1, 0, ctypes.addressof(rng)))
    fcntl.ioctl(dfd, VFIO_DEVICE_FEATURE, arg)
    return struct.unpack('=IIQIIQ', arg)[2]


def dma_log_stop(dfd):
    fcntl.ioctl(dfd, VFIO_DEVICE_FEATURE, bytearray(struct.pack(
        '=II', VFIO_DEVICE_FEATURE_SIZE, VFIO_DEVICE_FEATURE_SET |
        VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP)))


def dma_log_report(dfd, iova, length, page_size):
    """DMA_LOGGING_REPORT of [@iova, @iova + @length): the dirty pages'
    indexes, counted from @iova."""
    npages = length // page_size
    bits = ctypes.create_string_buffer((npages + 63) // 64 * 8)
    arg = bytearray(struct.pack('=IIQQQQ', VFIO_DEVICE_FEATURE_SIZE +
                                VFIO_DMA_LOGGING_REPORT_SIZE,
                                VFIO_DEVICE_FEATURE_GET |
                                VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
                                iova, length, page_size,
                                ctypes.addressof(bits)))
    fcntl.ioctl(dfd, VFIO_DEVICE_FEATURE, arg)
    raw = bits.raw
    return [i for i in range(npages) if raw[i // 8] >> (i % 8) & 1]


def kernel_has_iova_bitmap():
    """
    Whether the running kernel has vfio core's DMA logging report path
    (iova_bitmap, built with CONFIG_IOMMUFD_DRIVER); None if unknown.
    """
    try:
        with open('/proc/kallsyms') as f:
            for ln in f:
                if ln.endswith(' iova_bitmap_set\n') or \
                        ' iova_bitmap_set\t' in ln:
                    return True
    except OSError:
        return None
    return False


# --- binding the bochs-display functions ----------------------------------

class BochsBinder:
    """Bind the rig's bochs-display functions to the driver (those not on a
    vfio driver already); release() undoes what bind() did.  Used by
    the two-devices variant and by scripts/e2e-bochs."""

    def __init__(self):
        self.bound = []

    def bochs_functions(self):
        return [b for b in sorted(os.listdir('/sys/bus/pci/devices'))
                if (sysfs(b, 'vendor'), sysfs(b, 'device'),
                    sysfs(b, 'class')) == ('0x1234', '0x1111', '0x038000')]

    def bind(self):
        out = []
        for bdf in self.bochs_functions():
            drv = driver_of(bdf)
            if drv not in VFIO_DRIVERS:
                try:
                    write('/sys/bus/pci/devices/%s/driver_override' % bdf,
                          DRIVER)
                    if drv:
                        write('/sys/bus/pci/devices/%s/driver/unbind' % bdf,
                              bdf)
                    write('/sys/bus/pci/drivers_probe', bdf)
                except OSError:
                    pass
                drv = driver_of(bdf)
                if drv == DRIVER:
                    self.bound.append(bdf)
            if drv in VFIO_DRIVERS:
                out.append((bdf, drv))
        return out

    def release(self):
        for bdf in self.bound:
            try:
                write('/sys/bus/pci/drivers/%s/unbind' % DRIVER, bdf)
                write('/sys/bus/pci/devices/%s/driver_override' % bdf, '\n')
            except OSError:
                pass
        self.bound = []
