#!/usr/bin/python3
"""Load an OCI seccomp profile with libseccomp (python3-seccomp) and exec a command under it.

The reference the end-to-end tests hold our profiles to: if libseccomp, the library runc, crun
and podman use, accepts the profile and the command runs under it, runtimes will too.

usage: seccomp_exec.py PROFILE [--drop NAME]... -- COMMAND [ARG]...
"""
import json
import os
import sys

import seccomp

ACTIONS = {
    "SCMP_ACT_ALLOW": lambda errno: seccomp.ALLOW,
    "SCMP_ACT_ERRNO": lambda errno: seccomp.ERRNO(errno if errno is not None else 1),
    "SCMP_ACT_KILL_PROCESS": lambda errno: seccomp.KILL_PROCESS,
    "SCMP_ACT_LOG": lambda errno: seccomp.LOG,
}
OPS = {
    "SCMP_CMP_NE": seccomp.NE,
    "SCMP_CMP_LT": seccomp.LT,
    "SCMP_CMP_LE": seccomp.LE,
    "SCMP_CMP_EQ": seccomp.EQ,
    "SCMP_CMP_GE": seccomp.GE,
    "SCMP_CMP_GT": seccomp.GT,
    "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ,
}
ARCHES = {
    "SCMP_ARCH_X86_64": seccomp.Arch.X86_64,
    "SCMP_ARCH_X86": seccomp.Arch.X86,
    "SCMP_ARCH_X32": seccomp.Arch.X32,
}


def main():
    args = sys.argv[1:]
    split = args.index("--")
    profile_path, options, command = args[0], args[1:split], args[split + 1:]
    drop = {options[i + 1] for i, o in enumerate(options) if o == "--drop"}
    with open(profile_path) as f:
        profile = json.load(f)

    default = ACTIONS[profile["defaultAction"]](profile.get("defaultErrnoRet"))
    flt = seccomp.SyscallFilter(default)
    for arch in profile.get("architectures", []):
        if not flt.exist_arch(ARCHES[arch]):
            flt.add_arch(ARCHES[arch])
    for rule in profile.get("syscalls", []):
        action = ACTIONS[rule["action"]](rule.get("errnoRet"))
        # Conditions ANDed, as runc passes them (our recorded rules never put two on one
        # argument, which runc would split).
        conditions = [
            seccomp.Arg(c["index"], OPS[c["op"]], c["value"], c.get("valueTwo", 0))
            for c in rule.get("args") or []
        ]
        for name in rule["names"]:
            if name not in drop:
                flt.add_rule(action, name, *conditions)
    flt.load()
    os.execv(command[0], command)


main()
