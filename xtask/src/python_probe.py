"""Runs a Python script the end-to-end tests run, then lists what the interpreter needed for it.

Usage: python3 python_probe.py SCRIPT [ARGS...]; SCRIPT reads `{}` on stdin (an invalid event, so
that the error paths are taken too). Prints one line per thing the guest image must carry:
`exe PATH` (the interpreter), `file PATH`, `tree PATH` (a whole package, with its data files),
`dir PATH` (a directory the interpreter looks for).
"""
import io
import os
import runpy
import site
import sys
import sysconfig

script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.stdin = io.StringIO("{}\n")
out = sys.stdout
sys.stdout = sys.stderr = io.StringIO()
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit:
    pass
sys.stdout = out
sys.stderr = sys.__stderr__

print("exe", sys.executable)
# Its absence makes the interpreter warn about "platform dependent libraries".
print("dir", sysconfig.get_config_var("DESTSHARED"))
third_party = set(site.getsitepackages() + [site.getusersitepackages()])
for name, module in sorted(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if not path or not os.path.isabs(path):
        continue
    home = next((d for d in third_party if path.startswith(d + os.sep)), None)
    if home:
        top = path[len(home) + 1:].split(os.sep)[0]
        print("tree", os.path.join(home, top))
    elif hasattr(module, "__path__"):
        # A standard-library package: whole, since its submodules load lazily (encodings).
        print("tree", os.path.dirname(path))
    else:
        print("file", path)
    cached = getattr(module, "__cached__", None)
    if cached and os.path.exists(cached):
        print("file", cached)
