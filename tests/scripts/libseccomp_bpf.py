#!/usr/bin/python3
"""Compile an OCI seccomp profile to classic BPF exactly as runc 1.1.x does, using libseccomp.

Reference compiler for our own seccomp BPF compiler: it drives the system's libseccomp (Debian
12: 2.5.4, through python3-seccomp; run it with /usr/bin/python3) the same way runc v1.1.5's
libcontainer/specconv/spec_linux.go SetupSeccomp + libcontainer/seccomp/seccomp_linux.go
InitSeccomp (via libseccomp-golang) do, then writes libseccomp's raw BPF (seccomp_export_bpf).

usage:
  libseccomp_bpf.py [--runc-enosys] PROFILE.json OUT.bpf
      PROFILE is a plain OCI linux.seccomp object. Writes the filter libseccomp generates.
      With --runc-enosys, also prepends the -ENOSYS stub runc's patchbpf.PatchAndLoad puts in
      front of the libseccomp program before loading it (same decisions, own instruction layout;
      runc's own layout depends on Go map iteration order). Exit 3 (message on stderr) when runc
      or libseccomp would reject the profile; exit 4 when runc would run without seccomp
      (no defaultAction and no syscalls), in which case OUT is not written.
  libseccomp_bpf.py --decide OUT.bpf ARCH NR [ARG0 .. ARG5]
      Runs OUT.bpf in a classic-BPF interpreter over struct seccomp_data {u32 nr; u32 arch;
      u64 instruction_pointer (=0); u64 args[6]} (little endian) and prints the 32-bit return
      value as 0x%08x. ARCH: x86_64 | x86 (i386) | x32 | aarch64 | AUDIT_ARCH number. NR and
      ARGs accept 0x.. and negative values (wrapped to u32/u64). With ARCH x32, NR is the x32
      table number and 0x40000000 is ORed in; with x86_64 NR is used as given.
  libseccomp_bpf.py --exec PROFILE.json -- COMMAND [ARG]...
      Loads libseccomp's filter for PROFILE into this process and execs COMMAND under it.
  libseccomp_bpf.py --dump OUT.bpf
      Prints the program, one instruction per line.
"""
import ctypes
import json
import struct
import sys

X32_SYSCALL_BIT = 0x40000000
AUDIT_ARCH = {
    "x86_64": 0xC000003E, "amd64": 0xC000003E, "x32": 0xC000003E,
    "x86": 0x40000003, "i386": 0x40000003, "i686": 0x40000003,
    "aarch64": 0xC00000B7, "arm64": 0xC00000B7, "arm": 0x40000028,
}

# ---------------------------------------------------------------------------------------------
# Compilation (needs the seccomp module)
# ---------------------------------------------------------------------------------------------

# runc libcontainer/seccomp/config.go: OCI name -> runc arch string; libseccomp-golang
# GetArchFromString maps those to SCMP_ARCH_* tokens. Anything else is an error.
RUNC_ARCHES = {
    "SCMP_ARCH_X86": "X86", "SCMP_ARCH_X86_64": "X86_64", "SCMP_ARCH_X32": "X32",
    "SCMP_ARCH_ARM": "ARM", "SCMP_ARCH_AARCH64": "AARCH64", "SCMP_ARCH_MIPS": "MIPS",
    "SCMP_ARCH_MIPS64": "MIPS64", "SCMP_ARCH_MIPS64N32": "MIPS64N32",
    "SCMP_ARCH_MIPSEL": "MIPSEL", "SCMP_ARCH_MIPSEL64": "MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32": "MIPSEL64N32", "SCMP_ARCH_PPC": "PPC", "SCMP_ARCH_PPC64": "PPC64",
    "SCMP_ARCH_PPC64LE": "PPC64LE", "SCMP_ARCH_S390": "S390", "SCMP_ARCH_S390X": "S390X",
}
RUNC_OPS = {
    "SCMP_CMP_NE": "NE", "SCMP_CMP_LT": "LT", "SCMP_CMP_LE": "LE", "SCMP_CMP_EQ": "EQ",
    "SCMP_CMP_GE": "GE", "SCMP_CMP_GT": "GT", "SCMP_CMP_MASKED_EQ": "MASKED_EQ",
}
RUNC_ACTIONS = {"SCMP_ACT_KILL", "SCMP_ACT_ERRNO", "SCMP_ACT_TRAP", "SCMP_ACT_ALLOW",
                "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_KILL_THREAD",
                "SCMP_ACT_KILL_PROCESS"}
EPERM = 1
ENOSYS = 38


class Rejected(Exception):
    pass


def action_value(name, errno_ret):
    """runc seccomp_linux.go getAction + libseccomp-golang SetReturnCode(int16)/toNative."""
    if name not in RUNC_ACTIONS:
        raise Rejected("string %s is not a valid action for seccomp" % name)
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return 0x00000000                        # SCMP_ACT_KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return 0x80000000
    if name == "SCMP_ACT_TRAP":
        return 0x00030000
    if name == "SCMP_ACT_ERRNO":                 # default errno EPERM; int16 cast, & 0xffff
        return 0x00050000 | ((EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        return 0x7FF00000 | ((EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if name == "SCMP_ACT_LOG":
        return 0x7FFC0000
    if name == "SCMP_ACT_ALLOW":
        return 0x7FFF0000
    return 0x7FC00000                            # SCMP_ACT_NOTIFY


def s32(v):
    """python3-seccomp takes actions as a C int."""
    return v - (1 << 32) if v & 0x80000000 else v


def libseccomp():
    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
    return lib


def convert(profile):
    """runc specconv.SetupSeccomp: flatten names, validate strings. Returns None if disabled."""
    default = profile.get("defaultAction", "")
    syscalls = profile.get("syscalls") or []
    if default == "" and not syscalls:
        return None
    if profile.get("flags"):
        raise Rejected("seccomp flags are not yet supported by runc")
    arches = []
    for a in profile.get("architectures") or []:
        if a not in RUNC_ARCHES:
            raise Rejected("string %s is not a valid arch for seccomp" % a)
        arches.append(RUNC_ARCHES[a])
    if default not in RUNC_ACTIONS:
        raise Rejected("string %s is not a valid action for seccomp" % default)
    calls = []
    for block in syscalls:
        action = block.get("action", "")
        if action not in RUNC_ACTIONS:
            raise Rejected("string %s is not a valid action for seccomp" % action)
        for name in block.get("names") or []:
            args = []
            for arg in block.get("args") or []:
                op = arg.get("op", "")
                if op not in RUNC_OPS:
                    raise Rejected("string %s is not a valid operator for seccomp" % op)
                args.append((int(arg.get("index", 0)), RUNC_OPS[op], int(arg.get("value", 0)),
                             int(arg.get("valueTwo", 0))))
            calls.append({"name": name, "action": action, "errnoRet": block.get("errnoRet"),
                          "args": args})
    return {"default": default, "defaultErrnoRet": profile.get("defaultErrnoRet"),
            "arches": arches, "calls": calls}


def build_filter(cfg):
    """runc seccomp_linux.go InitSeccomp, minus PatchAndLoad."""
    import seccomp
    lib = libseccomp()
    def_act = action_value(cfg["default"], cfg["defaultErrnoRet"])
    for call in cfg["calls"]:
        if call["action"] == "SCMP_ACT_NOTIFY" and call["name"] == "write":
            raise Rejected("SCMP_ACT_NOTIFY cannot be used for the write syscall")
    if def_act == 0x7FC00000:
        raise Rejected("SCMP_ACT_NOTIFY cannot be used as default action")
    try:
        flt = seccomp.SyscallFilter(s32(def_act))      # seccomp_init: native arch only
    except Exception as e:
        raise Rejected("error creating filter: %s" % e)
    # libseccomp-golang NewFilter: TSYNC on, ignoring "not supported". No effect on the BPF.
    try:
        flt.set_attr(seccomp.Attr.CTL_TSYNC, 1)
    except Exception:
        pass
    for a in cfg["arches"]:                            # AddArch ignores EEXIST
        tok = getattr(seccomp.Arch, a)
        if not flt.exist_arch(tok):
            try:
                flt.add_arch(tok)
            except Exception as e:
                raise Rejected("error adding architecture to seccomp filter: %s" % e)
    flt.set_attr(seccomp.Attr.CTL_NNP, 0)             # SetNoNewPrivsBit(false); load-time only
    ops = {k: getattr(seccomp, k) for k in RUNC_OPS.values()}
    for call in cfg["calls"]:
        name = call["name"]
        if not name:
            raise Rejected("empty string is not a valid syscall")
        act = action_value(call["action"], call["errnoRet"])
        if act == def_act:
            continue                                   # "redundant, silently skip it"
        # GetSyscallFromName = seccomp_syscall_resolve_name (native arch); -1 = unknown → skip.
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr == -1:
            continue
        try:
            if not call["args"]:
                flt.add_rule(s32(act), nr)             # seccomp_rule_add (non-exact), like runc
                continue
            conds = []
            counts = [0] * 6
            for (index, op, value, value_two) in call["args"]:
                if index < 0 or index > 5:             # MakeCondition
                    raise Rejected("syscalls only have up to 6 arguments (%d given)" % index)
                conds.append(seccomp.Arg(index, ops[op], value, value_two))
                counts[index] += 1
            if max(counts) > 1:                        # runc's "old behavior": one rule per cond
                for c in conds:
                    flt.add_rule(s32(act), nr, c)
            else:
                flt.add_rule(s32(act), nr, *conds)
        except Rejected:
            raise
        except Exception as e:
            raise Rejected("error adding seccomp rule for syscall %s: %s" % (name, e))
    return flt, def_act


# ---- runc libcontainer/seccomp/patchbpf/enosys_linux.go -------------------------------------

def enosys_stub(cfg, lib):
    """Instructions (code, jt, jf, k) that runc prepends; [] when runc skips the stub."""
    import seccomp
    if cfg["defaultErrnoRet"] is not None and cfg["defaultErrnoRet"] == 0x50026:
        return []        # runc compares defaultErrnoRet with SCMP_ACT_ERRNO(ENOSYS) (sic)
    if cfg["default"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"):
        return []
    last = {}            # audit arch -> {scmp arch name: max nr}
    for a in cfg["arches"]:
        audit = {"X86_64": 0xC000003E, "X32": 0xC000003E, "X86": 0x40000003,
                 "AARCH64": 0xC00000B7, "ARM": 0x40000028}.get(a)
        if audit is None:
            raise Rejected("--runc-enosys: arch %s not modelled by this script" % a)
        tok = int(getattr(seccomp.Arch, a))
        largest = 0
        for call in cfg["calls"]:
            n = lib.seccomp_syscall_resolve_name_arch(tok, call["name"].encode())
            if n != -1 and n > largest:
                largest = n
        if largest:
            last.setdefault(audit, {})[a] = largest
    LD, JEQ, JGT, JSET, JA, RET = 0x20, 0x15, 0x25, 0x45, 0x05, 0x06
    enosys = 0x00050000 | ENOSYS
    # Layout: [ld arch] [per arch: jeq arch -> section] [ja filter] sections... [ret ENOSYS]
    # Each section: ld nr; checks jumping to "ENOSYS" or to "FILTER" (resolved below).
    sections = []
    for audit, m in last.items():
        body = [(LD, 0, 0, 0)]
        if len(m) == 1:
            (a, mx), = m.items()
            if audit == 0xC000003E and a == "X86_64":
                body += [(JSET, "FILTER", 0, X32_SYSCALL_BIT)]
            elif audit == 0xC000003E and a == "X32":
                body += [(JSET, 0, "FILTER", X32_SYSCALL_BIT)]
            body += [(JGT, "ENOSYS", "FILTER", mx)]
        else:
            body += [(JSET, 1, 0, X32_SYSCALL_BIT),
                     (JGT, "ENOSYS", "FILTER", m["X86_64"]),
                     (JGT, "ENOSYS", "FILTER", m["X32"])]
        sections.append((audit, body))
    if not sections:
        return []
    prog = [(LD, 0, 0, 4)]
    head = len(sections)
    prog += [None] * head + [(JA, 0, 0, "FILTER")]
    starts = []
    for audit, body in sections:
        starts.append(len(prog))
        prog += body
    enosys_at = len(prog)
    prog.append((RET, 0, 0, enosys))
    filter_at = len(prog)
    for i, (audit, _) in enumerate(sections):
        prog[1 + i] = (JEQ, starts[i] - (1 + i) - 1, 0, audit)
    out = []
    for pc, (code, jt, jf, k) in enumerate(prog):
        def rel(t):
            if t == "ENOSYS":
                t = enosys_at - pc - 1
            elif t == "FILTER":
                t = filter_at - pc - 1
            if not 0 <= t <= 255:
                raise Rejected("--runc-enosys: jump out of range")
            return t
        if code == JA:
            k = filter_at - pc - 1
        else:
            jt, jf = rel(jt), rel(jf)
        out.append((code, jt, jf, k))
    return out


def compile_main(argv):
    runc_enosys = False
    if argv and argv[0] == "--runc-enosys":
        runc_enosys, argv = True, argv[1:]
    if len(argv) != 2:
        sys.exit(__doc__)
    with open(argv[0]) as f:
        profile = json.load(f)
    try:
        cfg = convert(profile)
        if cfg is None:
            print("runc would not install a seccomp filter (no defaultAction, no syscalls)",
                  file=sys.stderr)
            sys.exit(4)
        flt, _ = build_filter(cfg)
        with open(argv[1], "wb") as out:
            flt.export_bpf(out)
        if runc_enosys:
            stub = enosys_stub(cfg, libseccomp())
            with open(argv[1], "rb") as f:
                body = f.read()
            with open(argv[1], "wb") as f:
                f.write(b"".join(struct.pack("<HBBI", *i) for i in stub) + body)
    except Rejected as e:
        print("libseccomp_bpf: %s" % e, file=sys.stderr)
        sys.exit(3)


# ---------------------------------------------------------------------------------------------
# Classic BPF interpreter (no seccomp module needed)
# ---------------------------------------------------------------------------------------------

def load_prog(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % 8:
        raise SystemExit("%s: length %d is not a multiple of 8" % (path, len(data)))
    return [struct.unpack_from("<HBBI", data, i) for i in range(0, len(data), 8)]


def seccomp_data(arch, nr, args):
    args = (list(args) + [0] * 6)[:6]
    return struct.pack("<IIQ6Q", nr & 0xFFFFFFFF, arch & 0xFFFFFFFF, 0,
                       *[a & 0xFFFFFFFFFFFFFFFF for a in args])


def run_bpf(prog, data):
    """Linux classic BPF semantics as seccomp allows them (net/core/filter.c, seccomp_check_filter)."""
    M32 = 0xFFFFFFFF
    A = X = 0
    mem = [0] * 16
    pc = 0
    steps = 0
    while True:
        if pc >= len(prog):
            raise RuntimeError("fell off the end of the program")
        steps += 1
        code, jt, jf, k = prog[pc]
        cls = code & 0x07
        pc += 1
        if cls in (0x00, 0x01):                      # LD / LDX
            mode, size = code & 0xE0, code & 0x18
            if mode == 0x00:                         # IMM
                v = k
            elif mode == 0x20:                       # ABS (seccomp: W only, aligned)
                if size != 0x00 or k % 4 or k + 4 > len(data):
                    raise RuntimeError("bad load at %d: %#x k=%d" % (pc - 1, code, k))
                v = struct.unpack_from("<I", data, k)[0]
            elif mode == 0x60:                       # MEM
                v = mem[k]
            elif mode == 0x80:                       # LEN
                v = len(data)
            else:
                raise RuntimeError("unsupported load %#x" % code)
            if cls == 0x00:
                A = v
            else:
                X = v
        elif cls == 0x02:                            # ST
            mem[k] = A
        elif cls == 0x03:                            # STX
            mem[k] = X
        elif cls == 0x04:                            # ALU
            op = code & 0xF0
            src = X if code & 0x08 else k
            if op == 0x00: A = (A + src) & M32
            elif op == 0x10: A = (A - src) & M32
            elif op == 0x20: A = (A * src) & M32
            elif op == 0x30: A = A // src
            elif op == 0x40: A = A | src
            elif op == 0x50: A = A & src
            elif op == 0x60: A = (A << src) & M32 if src < 32 else 0
            elif op == 0x70: A = A >> src if src < 32 else 0
            elif op == 0x80: A = (-A) & M32
            elif op == 0x90: A = A % src
            elif op == 0xA0: A = A ^ src
            else: raise RuntimeError("unsupported alu %#x" % code)
        elif cls == 0x05:                            # JMP
            op = code & 0xF0
            src = X if code & 0x08 else k
            if op == 0x00:
                pc += k
                continue
            if op == 0x10: cond = A == src
            elif op == 0x20: cond = A > src
            elif op == 0x30: cond = A >= src
            elif op == 0x40: cond = (A & src) != 0
            else: raise RuntimeError("unsupported jmp %#x" % code)
            pc += jt if cond else jf
        elif cls == 0x06:                            # RET
            rv = code & 0x18
            return (A if rv == 0x10 else k) & M32
        elif cls == 0x07:                            # MISC
            if code & 0xF8 == 0x00: X = A            # TAX
            else: A = X                              # TXA
        if steps > 1_000_000:
            raise RuntimeError("loop?")


def decide(path, arch_token, nr, args):
    arch_key = arch_token.lower()
    if arch_key.startswith("scmp_arch_"):
        arch_key = arch_key[len("scmp_arch_"):]
    if arch_key in AUDIT_ARCH:
        arch = AUDIT_ARCH[arch_key]
        if arch_key == "x32":
            nr |= X32_SYSCALL_BIT
    else:
        arch = int(arch_token, 0)
    return run_bpf(load_prog(path), seccomp_data(arch, nr, args))


def dump(path):
    for i, (code, jt, jf, k) in enumerate(load_prog(path)):
        print("%4d: code=0x%04x jt=%3d jf=%3d k=0x%08x" % (i, code, jt, jf, k))


def exec_main(argv):
    """Load libseccomp's filter for PROFILE (as runc builds it) and exec COMMAND under it."""
    import os
    if len(argv) < 3 or argv[1] != "--":
        sys.exit(__doc__)
    with open(argv[0]) as f:
        cfg = convert(json.load(f))
    flt, _ = build_filter(cfg)
    flt.load()
    os.execv(argv[2], argv[2:])


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "--exec":
        exec_main(argv[1:])
    elif argv and argv[0] == "--decide":
        if len(argv) < 4 or len(argv) > 10:
            sys.exit(__doc__)
        print("0x%08x" % decide(argv[1], argv[2], int(argv[3], 0),
                                [int(a, 0) for a in argv[4:]]))
    elif argv and argv[0] == "--dump":
        dump(argv[1])
    else:
        compile_main(argv)


if __name__ == "__main__":
    main()
