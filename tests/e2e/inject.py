"""Makes one system call inside a running process, from the outside, with
ptrace: the hardening tests use it to try a forbidden call inside the
sandboxed server. x86-64 only.

gdb's `call` did this before, but gdb 13 cannot run an inferior call on a
CPU with AMX state (Sapphire Rapids: "Couldn't write extended state status:
Bad address", and no value): it writes the whole XSAVE area back. This
touches only the general registers, so it works wherever ptrace does.

How: stop the thread (PTRACE_ATTACH), keep its registers, write a `syscall`
instruction and a breakpoint over the word at its instruction pointer and
any string arguments below its stack's red zone, point the registers at the
call (orig_rax -1, so a syscall the thread was stopped in is not restarted
into ours), let it run to the breakpoint, read rax, then put memory and
registers back and detach. The thread goes on where it was (a syscall it was blocked in is
restarted by the kernel as after any stop).

The patched bytes are the process's, not the thread's: another thread that
reached them meanwhile would run them too. The tests stop a thread blocked
in a call no other thread is in (the main thread in sigtimedwait, a worker
in io_uring_enter)."""

import ctypes
import os
import platform
import signal
import struct
import unittest

PTRACE_PEEKDATA = 2
PTRACE_POKEDATA = 5
PTRACE_CONT = 7
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_ATTACH = 16
PTRACE_DETACH = 17

AT_FDCWD = -100
SYS_openat = 257
SYS_getppid = 110
SYS_io_uring_register = 427
WALL = 0x40000000  # __WALL: wait for a thread that is not the main one

REGS = ("r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base "
        "ds es fs gs").split()
ARG_REGS = ("rdi", "rsi", "rdx", "r10", "r8", "r9")


class Regs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_ulonglong) for name in REGS]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long


def _ptrace(request, tid, addr=0, data=0):
    ctypes.set_errno(0)
    r = _libc.ptrace(request, tid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    err = ctypes.get_errno()
    if r == -1 and err != 0:
        raise OSError(err, f"ptrace({request}, {tid}): {os.strerror(err)}")
    return r


def _peek(tid, addr):
    return _ptrace(PTRACE_PEEKDATA, tid, addr) & 0xFFFFFFFFFFFFFFFF


def _poke(tid, addr, word):
    _ptrace(PTRACE_POKEDATA, tid, addr, word)


def _write(tid, addr, data):
    """Writes data (padded to whole words); returns the words it replaced."""
    data = data + b"\0" * (-len(data) % 8)
    saved = []
    for off in range(0, len(data), 8):
        saved.append((addr + off, _peek(tid, addr + off)))
        _poke(tid, addr + off, struct.unpack_from("<Q", data, off)[0])
    return saved


def _signed(v):
    return v - (1 << 64) if v & (1 << 63) else v


def thread_ids(pid):
    """The process's threads in the order gdb numbers them (thread 1 is the
    main one), without io_uring's io-wq workers, which cannot be traced."""
    out = []
    for t in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                if f.read().startswith("iou-"):
                    continue
        except OSError:
            continue
        out.append(int(t))
    return out


def syscall(tid, nr, *args):
    """Makes syscall nr with args in thread tid; returns its result (a
    negative errno on failure), or None where the process died of it or it
    raised a signal, which is then delivered (SIGSYS from seccomp's trap).
    An argument may be bytes: it is put in the thread's memory,
    NUL-terminated, and its address passed. Skips the test on another
    architecture."""
    if platform.machine() != "x86_64":
        raise unittest.SkipTest(f"no system call injection on {platform.machine()}")
    _ptrace(PTRACE_ATTACH, tid)
    deliver = 0
    try:
        _, status = os.waitpid(tid, WALL)
        if not os.WIFSTOPPED(status):
            return None
        saved_regs = Regs()
        _ptrace(PTRACE_GETREGS, tid, 0, ctypes.addressof(saved_regs))
        regs = Regs.from_buffer_copy(saved_regs)
        restore = []
        # Strings go a page below the stack pointer, past the red zone.
        where = (saved_regs.rsp - 4096 - 128) & ~0xF
        values = []
        for a in args:
            if isinstance(a, bytes):
                restore += _write(tid, where, a + b"\0")
                values.append(where)
                where += (len(a) + 1 + 15) & ~0xF
            else:
                values.append(a & 0xFFFFFFFFFFFFFFFF)
        rip = saved_regs.rip
        restore += _write(tid, rip, b"\x0f\x05\xcc")  # syscall; int3
        regs.rax = nr
        regs.orig_rax = 0xFFFFFFFFFFFFFFFF
        regs.rip = rip
        for name, v in zip(ARG_REGS, values):
            setattr(regs, name, v)
        _ptrace(PTRACE_SETREGS, tid, 0, ctypes.addressof(regs))
        _ptrace(PTRACE_CONT, tid)
        _, status = os.waitpid(tid, WALL)
        if not os.WIFSTOPPED(status):
            return None  # killed by it
        done = Regs()
        _ptrace(PTRACE_GETREGS, tid, 0, ctypes.addressof(done))
        for addr, word in reversed(restore):
            _poke(tid, addr, word)
        _ptrace(PTRACE_SETREGS, tid, 0, ctypes.addressof(saved_regs))
        if os.WSTOPSIG(status) != signal.SIGTRAP:
            # The call raised a signal (seccomp's SECCOMP_RET_TRAP: SIGSYS):
            # it is delivered on detach, as gdb's "handle ... pass" did.
            deliver = os.WSTOPSIG(status)
            return None
        return _signed(done.rax)
    finally:
        try:
            _ptrace(PTRACE_DETACH, tid, 0, deliver)
        except OSError:
            pass  # gone
