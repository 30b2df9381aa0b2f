// SPDX-License-Identifier: GPL-2.0
/*
 * Console, PCI, timer and exit services for the bare-metal payload.
 */
#include <stdarg.h>
#include "lib.h"

/* --- string helpers ---------------------------------------------------- */

void *memset(void *s, int c, size_t n)
{
	u8 *p = s;

	while (n--)
		*p++ = c;
	return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
	u8 *dp = d;
	const u8 *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (u8)*a < (u8)*b ? -1 : 1;
		if (!*a)
			return 0;
	}
	return 0;
}

/* Decimal, or hexadecimal with a 0x prefix; stops at the first non-digit. */
u32 parse_u32(const char *s)
{
	u32 v = 0, base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++) {
		u32 d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = v * base + d;
	}
	return v;
}

/* --- multiboot and the command line ------------------------------------ */

const char *mb_cmdline(u32 magic, const struct mb_info *mbi)
{
	if (magic != MB_INFO_MAGIC || !(mbi->flags & MB_INFO_CMDLINE))
		return "";
	return (const char *)mbi->cmdline;
}

const char *cmdline_word(const char **s, size_t *len)
{
	const char *p = *s, *w;

	while (*p == ' ')
		p++;
	if (!*p) {
		*s = p;
		return NULL;
	}
	w = p;
	while (*p && *p != ' ')
		p++;
	*len = p - w;
	*s = p;
	return w;
}

bool word_is(const char *w, size_t n, const char *flag)
{
	return n == strlen(flag) && !strncmp(w, flag, n);
}

bool word_u32(const char *w, size_t n, const char *key, u32 *val)
{
	size_t k = strlen(key);

	if (n <= k || strncmp(w, key, k))
		return false;
	*val = parse_u32(w + k);
	return true;
}

/* --- COM1 -------------------------------------------------------------- */

#define COM1		0x3f8
#define UART_RBR	0
#define UART_THR	0
#define UART_IER	1
#define UART_DLL	0
#define UART_DLM	1
#define UART_FCR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define  UART_LSR_DR	0x01
#define  UART_LSR_THRE	0x20

void serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);		/* no interrupts: we poll */
	outb(COM1 + UART_LCR, 0x80);		/* DLAB */
	outb(COM1 + UART_DLL, 0x01);		/* 115200 baud */
	outb(COM1 + UART_DLM, 0x00);
	outb(COM1 + UART_LCR, 0x03);		/* 8N1 */
	outb(COM1 + UART_FCR, 0x07);		/* FIFOs on and cleared */
	outb(COM1 + UART_MCR, 0x03);		/* DTR, RTS */
}

void serial_putc(char c)
{
	u32 spin = 0;

	/* Bounded: a wedged UART must not hang the test forever. */
	while (!(inb(COM1 + UART_LSR) & UART_LSR_THRE) && ++spin < 1000000)
		cpu_relax();
	outb(COM1 + UART_THR, c);
}

int serial_getc_nowait(void)
{
	if (!(inb(COM1 + UART_LSR) & UART_LSR_DR))
		return -1;
	return inb(COM1 + UART_RBR);
}

/* --- printf ------------------------------------------------------------ */

static void put_num(u64 v, u32 base, int width, char pad, bool left,
		    bool neg, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24];
	int n = 0, len;

	do {
		buf[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		buf[n++] = '-';
	len = n;
	if (!left)
		for (; width > len; width--)
			serial_putc(pad);
	while (n)
		serial_putc(buf[--n]);
	if (left)
		for (; width > len; width--)
			serial_putc(' ');
}

int printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		int width = 0, lng = 0;
		bool left = false;
		char pad = ' ';
		u64 v;

		if (*fmt != '%') {
			serial_putc(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '-') {
			left = true;
			fmt++;
		}
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + *fmt++ - '0';
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'c':
			serial_putc(va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int len;

			if (!s)
				s = "(null)";
			len = strlen(s);
			if (!left)
				for (; width > len; width--)
					serial_putc(' ');
			while (*s)
				serial_putc(*s++);
			if (left)
				for (; width > len; width--)
					serial_putc(' ');
			break;
		}
		case 'd':
		case 'i': {
			long long sv = lng >= 2 ? va_arg(ap, long long) :
						  va_arg(ap, int);

			put_num(sv < 0 ? -(u64)sv : (u64)sv, 10, width, pad,
				left, sv < 0, false);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
			v = lng >= 2 ? va_arg(ap, u64) : va_arg(ap, u32);
			put_num(v, *fmt == 'u' ? 10 : 16, width, pad, left,
				false, *fmt == 'X');
			break;
		case 'p':
			serial_putc('0');
			serial_putc('x');
			put_num((u32)va_arg(ap, void *), 16, 8, '0', false,
				false, false);
			break;
		case '%':
			serial_putc('%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			serial_putc('%');
			serial_putc(*fmt);
			break;
		}
	}
	va_end(ap);
	return 0;
}

/* --- PCI ------------------------------------------------------------------ */

static void pci_addr(u32 bdf, u32 off)
{
	outl(0xcf8, 0x80000000u | (bdf << 8) | (off & 0xfc));
}

u32 pci_read32(u32 bdf, u32 off)
{
	pci_addr(bdf, off);
	return inl(0xcfc);
}

void pci_write32(u32 bdf, u32 off, u32 v)
{
	pci_addr(bdf, off);
	outl(0xcfc, v);
}

u16 pci_read16(u32 bdf, u32 off)
{
	return pci_read32(bdf, off) >> ((off & 2) * 8);
}

void pci_write16(u32 bdf, u32 off, u16 v)
{
	pci_addr(bdf, off);
	outw(0xcfc + (off & 2), v);
}

u8 pci_read8(u32 bdf, u32 off)
{
	return pci_read32(bdf, off) >> ((off & 3) * 8);
}

/*
 * Brute-force scan of every bus: cheap enough (a few thousand port
 * accesses) and independent of how the firmware numbered the bridges.
 */
int pci_find(u16 vendor, u16 device, int *count)
{
	return pci_find_nth(vendor, device, 0, count);
}

/* The @nth (from 0) function with these IDs in bus order, or -1. */
int pci_find_nth(u16 vendor, u16 device, int nth, int *count)
{
	u32 want = (u32)device << 16 | vendor;
	int found = -1, n = 0;
	u32 bus, dev, fn;

	for (bus = 0; bus < 256; bus++) {
		for (dev = 0; dev < 32; dev++) {
			u32 nfn = 1;

			for (fn = 0; fn < nfn; fn++) {
				u32 bdf = PCI_BDF(bus, dev, fn);
				u32 id = pci_read32(bdf, PCI_VENDOR_ID);

				if ((id & 0xffff) == 0xffff)
					continue;
				if (fn == 0 &&
				    (pci_read8(bdf, PCI_HEADER_TYPE) & 0x80))
					nfn = 8;
				if (id == want) {
					if (n == nth)
						found = bdf;
					n++;
				}
			}
		}
	}
	if (count)
		*count = n;
	return found;
}

/* --- time: the ACPI PM timer (3.579545 MHz, 24 bits) --------------------- */

#define PM_TIMER_HZ	3579545u

static u16 pm_timer_port;
static u32 pm_last;
static u64 pm_ticks;
static u64 tsc_start;

static inline u64 rdtsc(void)
{
	u32 lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (u64)hi << 32 | lo;
}

/*
 * The firmware (SeaBIOS) programs the chipset's ACPI I/O base; read it
 * back from the ICH9 LPC bridge (q35) or the PIIX4 power-management
 * function (pc) rather than assuming a port number.
 */
void timer_init(void)
{
	u32 lpc = PCI_BDF(0, 0x1f, 0), piix = PCI_BDF(0, 1, 3);

	if (pci_read32(lpc, 0) == 0x29188086) {
		if (pci_read8(lpc, 0x44) & 0x80)
			pm_timer_port = (pci_read32(lpc, 0x40) & 0xff80) + 8;
	} else if (pci_read32(piix, 0) == 0x71138086) {
		if (pci_read8(piix, 0x80) & 0x01)
			pm_timer_port = (pci_read32(piix, 0x40) & 0xffc0) + 8;
	}
	if (pm_timer_port)
		pm_last = inl(pm_timer_port) & 0xffffff;
	else
		tsc_start = rdtsc();
}

const char *timer_source(void)
{
	return pm_timer_port ? "acpi-pm-timer" : "tsc(assumed 1GHz)";
}

/* PM timer ticks since timer_init(), or TSC ticks without the timer. */
static u64 ticks(void)
{
	u32 cur;

	if (!pm_timer_port)
		return rdtsc() - tsc_start;

	cur = inl(pm_timer_port) & 0xffffff;
	pm_ticks += (cur - pm_last) & 0xffffff;
	pm_last = cur;
	return pm_ticks;
}

u64 now_ms(void)
{
	if (!pm_timer_port)
		return ticks() / 1000000;	/* a guess, bounded */
	return ticks() * 1000 / PM_TIMER_HZ;
}

u64 now_us(void)
{
	if (!pm_timer_port)
		return ticks() / 1000;
	return ticks() * 1000000 / PM_TIMER_HZ;
}

/* --- exit ------------------------------------------------------------- */

#define DEBUG_EXIT_PORT	0xf4

void guest_exit(u32 code)
{
	printf("LMG EXIT code=%u\n", code);
	outb(DEBUG_EXIT_PORT, code);
	/* No isa-debug-exit device: park, the harness reads the line above. */
	for (;;)
		asm volatile("cli; hlt");
}
