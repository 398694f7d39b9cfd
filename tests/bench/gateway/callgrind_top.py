"""Instructions each function executed itself (not in the functions it called), from a callgrind
output file, for the gateway benchmark's --instructions table. (callgrind_annotate 3.19, given a
file dumped with `callgrind_control -d`, put all of it on the thread's entry function.)"""
import collections
import re

_NAME = re.compile(r"\((\d+)\)(?: (.*))?")


def self_costs(path):
    names = {}  # compressed id -> name, as the file defines them on first use

    def resolve(token):
        m = _NAME.match(token)
        if not m:
            return token
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), token)

    objects = {}  # the same for the shared objects functions live in
    costs = collections.Counter()
    function = None
    where = ""
    after_call = False  # the cost line after `calls=` is the callee's inclusive cost, not ours
    with open(path) as lines:
        for line in lines:
            if line.startswith(("ob=", "cob=")):  # an object's name is given where it first appears
                m = _NAME.match(line.split("=", 1)[1].rstrip("\n"))
                if m and m.group(2):
                    objects[m.group(1)] = m.group(2)
                if line.startswith("ob="):
                    where = objects.get(m.group(1), "") if m else ""
            elif line.startswith("fn="):
                function = resolve(line[3:].rstrip("\n"))
                # A function without a symbol (a stripped library) is named by its library.
                if function.startswith("0x") and where:
                    function += " in " + where.rsplit("/", 1)[-1]
            elif line.startswith("cfn="):
                resolve(line[4:].rstrip("\n"))
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if after_call:
                    after_call = False
                    continue
                fields = line.split()
                if function is not None and len(fields) >= 2:
                    costs[function] += int(fields[1])
    return costs
