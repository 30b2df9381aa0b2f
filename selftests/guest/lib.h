/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few services the bare-metal payload needs: port and MMIO access,
 * the COM1 console (output and polled input), PCI configuration space
 * through 0xcf8/0xcfc, a millisecond clock from the ACPI PM timer, and
 * the isa-debug-exit port.
 */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned int size_t;
typedef int bool;
#define true 1
#define false 0
#define NULL ((void *)0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --- port I/O and MMIO ------------------------------------------------ */

static inline void outb(u16 port, u8 v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(u16 port, u16 v)
{
	asm volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(u16 port, u32 v)
{
	asm volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u32 inl(u16 port)
{
	u32 v;

	asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* Paging is off: a physical address is a pointer. */
static inline u32 mmio_read32(u32 addr)
{
	return *(volatile u32 *)addr;
}

static inline void mmio_write32(u32 addr, u32 v)
{
	*(volatile u32 *)addr = v;
}

static inline void cpu_relax(void)
{
	asm volatile("pause" ::: "memory");
}

static inline void barrier(void)
{
	asm volatile("" ::: "memory");
}

/* --- string helpers ---------------------------------------------------- */

void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
u32 parse_u32(const char *s);

/* --- multiboot and the command line ------------------------------------ */

#define MB_INFO_MAGIC		0x2badb002
#define MB_INFO_MEM		(1u << 0)
#define MB_INFO_CMDLINE		(1u << 2)

/* The start of the multiboot information structure (what we read of it). */
struct mb_info {
	u32 flags;
	u32 mem_lower;
	u32 mem_upper;
	u32 boot_device;
	u32 cmdline;
};

/* The boot command line, or "" when the loader passed none. */
const char *mb_cmdline(u32 magic, const struct mb_info *mbi);

/*
 * The command line's words, one per call: returns the next
 * space-separated word of *@s (not NUL-terminated; its length in *@len)
 * and moves *@s past it, or NULL when none is left.
 */
const char *cmdline_word(const char **s, size_t *len);
/* Whether the word @w of length @n is exactly @flag. */
bool word_is(const char *w, size_t n, const char *flag);
/*
 * For a word "KEY=VALUE" with @key "KEY=": stores VALUE as a number in
 * *@val and returns true; otherwise leaves *@val alone.
 */
bool word_u32(const char *w, size_t n, const char *key, u32 *val);

/* --- console ----------------------------------------------------------- */

void serial_init(void);
void serial_putc(char c);
int serial_getc_nowait(void);		/* -1 when nothing is pending */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- PCI configuration space (mechanism #1) ---------------------------- */

#define PCI_BDF(b, d, f)	(((b) << 8) | ((d) << 3) | (f))
#define PCI_BUS(bdf)		(((bdf) >> 8) & 0xff)
#define PCI_DEV(bdf)		(((bdf) >> 3) & 0x1f)
#define PCI_FN(bdf)		((bdf) & 7)

#define PCI_VENDOR_ID		0x00
#define PCI_COMMAND		0x04
#define  PCI_COMMAND_MEMORY	0x0002
#define  PCI_COMMAND_MASTER	0x0004
#define  PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10

u32 pci_read32(u32 bdf, u32 off);
void pci_write32(u32 bdf, u32 off, u32 v);
u16 pci_read16(u32 bdf, u32 off);
void pci_write16(u32 bdf, u32 off, u16 v);
u8 pci_read8(u32 bdf, u32 off);

/*
 * The vector the "msi" option programs into the device (trap.c,
 * payload.c), and what trap.c's handlers count: interrupts on MSI_VECTOR,
 * and on any other vector above the exceptions.  Both signal EOI.
 */
#define MSI_VECTOR	0x41
#define LAPIC_BASE	0xfee00000u
#define LAPIC_EOI	0xb0
extern volatile u32 msi_count, stray_count;
void msi_handler(void);
void stray_handler(void);
/* Returns the first function with @vendor:@device, or -1. @count gets how many. */
int pci_find(u16 vendor, u16 device, int *count);
int pci_find_nth(u16 vendor, u16 device, int nth, int *count);

/* --- time -------------------------------------------------------------- */

void timer_init(void);
u64 now_ms(void);		/* guest virtual time; call at least every 4 s */
u64 now_us(void);		/* the same in microseconds */
const char *timer_source(void);

/* --- exit -------------------------------------------------------------- */

/*
 * isa-debug-exit turns a write of V into QEMU's exit status (V << 1) | 1,
 * so EXIT_PASS is status 1 and every failure is an odd status above 1.
 * A triple fault under -no-reboot exits 0: never mistaken for a pass.
 */
#define EXIT_PASS	0
#define EXIT_FAIL	1
#define EXIT_SETUP	2
#define EXIT_TIMEOUT	3
#define EXIT_EXCEPTION	4

void __attribute__((noreturn)) guest_exit(u32 code);

#endif /* GUEST_LIB_H */
