"""Names from users' files and flags that end up in code or in paths: one rule each.

- a dataset's column names (definitions.json, a feather file's columns): letters,
  digits, `_ . - [ ] ( ) /` and space (ASCII), 1 to 64 characters; so no `*/`, no
  quote, no `#`, no control character (`column_name_problem`);
- a name that becomes a file name (a validation species or variable): letters,
  digits, `_ . -`, 1 to 64 characters, not starting with a dot (`file_name_problem`);
- a trial id (a folder under trials/, from keras-tuner's oracle or a chief's answer):
  letters, digits, `_ -`, 1 to 64 characters (`trial_id_problem`);
- a study's name (a folder under the results root): no path separator, not starting
  with a dot, printable, 1 to 128 characters (`study_name_problem`, `study_dir`);
- the exported C function's name (`c_name`): a C identifier that is no C keyword, no
  reserved identifier (a leading _, a __), no name of the C library the generated
  source includes or calls, and not one of the generator's own symbols
  (`c_name_problem`).

Each returns None for a good name, else what is wrong; the callers raise the error
of their layer (DataError naming the file, ConfigError naming the key).
"""

from __future__ import annotations

import re
from pathlib import Path

COLUMN_NAME = re.compile(r"[A-Za-z0-9_.\-\[\]()/ ]{1,64}")
FILE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for "
    "goto if inline int long register restrict return short signed sizeof static struct "
    "switch typedef union unsigned void volatile while _Alignas _Alignof _Atomic _Bool "
    "_Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local "
    # C23's, and common extensions
    "alignas alignof bool constexpr false nullptr static_assert thread_local true typeof "
    "typeof_unqual asm".split()
)
_MATH = (
    "acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2 expm1 "
    "frexp ilogb ldexp log log10 log1p log2 logb modf scalbn scalbln cbrt fabs hypot pow "
    "sqrt erf erfc lgamma tgamma ceil floor nearbyint rint lrint llrint round lround "
    "llround trunc fmod remainder remquo copysign nan nextafter nexttoward fdim fmax "
    "fmin fma j0 j1 jn y0 y1 yn gamma exp10 sincos drem finite significand"
).split()
C_LIBRARY = frozenset(
    [*_MATH, *(f + "f" for f in _MATH), *(f + "l" for f in _MATH)]
    + (
        # <math.h>'s macros and types, <stddef.h>'s
        "fpclassify isfinite isinf isnan isnormal signbit isgreater isgreaterequal isless "
        "islessequal islessgreater isunordered float_t double_t math_errhandling HUGE_VAL "
        "HUGE_VALF HUGE_VALL INFINITY NAN NULL offsetof size_t ptrdiff_t wchar_t max_align_t "
        # the C library's most common functions: an export named so would interpose them
        "main malloc calloc realloc free memcpy memmove memset memcmp strlen strcpy strcmp "
        "printf fprintf sprintf snprintf puts exit abort atexit system errno "
        # POSIX and stdio/stdlib names a shared library would interpose when loaded
        "open close read write lseek time clock sleep usleep fork execv execve kill signal "
        "raise getenv setenv unsetenv getpid abs labs atoi atol atof strtod strtol qsort "
        "bsearch rand srand fopen fclose fread fwrite fflush fgets fputs perror strcat strncat "
        "strncpy strncmp strchr strrchr strstr strdup memchr dlopen dlsym mmap"
    ).split()
)
# what the generated C defines behind NAME_ (study/best/c_source.py, c_runtime.py)
C_INTERNALS = re.compile(
    r"interp|ndtri|tanh_rational|activate|preprocess|dense_\d+|forward_\d+"
    r"|DENSE|FORWARD|REFERENCES|RM|[WB]\d+|WOUT|BOUT|QM?_\d+"
)


def column_name_problem(name: str) -> str | None:
    """What makes `name` no dataset column name (None: it is one)."""
    if not isinstance(name, str):
        return f"expected a string, found {type(name).__name__}"
    bad = [c for c in name if not COLUMN_NAME.fullmatch(c)]
    if bad:
        safe = "letters, digits, _ . - [ ] ( ) / and space"
        return f"character {bad[0]!r} is outside the safe set ({safe})"
    if not 1 <= len(name) <= 64:
        return f"expected 1 to 64 characters, found {len(name)}"
    return None


def file_name_problem(name: str) -> str | None:
    """What makes `name` no plain file name (None: it is one)."""
    if not isinstance(name, str) or not FILE_NAME.fullmatch(name) or name.startswith("."):
        return "expected 1 to 64 letters, digits, _ . - (not starting with a dot)"
    return None


TRIAL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def trial_id_problem(trial_id) -> str | None:
    """What makes `trial_id` no trial id (a path part under trials/; None: it is one)."""
    if not isinstance(trial_id, str) or not TRIAL_ID.fullmatch(trial_id):
        return "expected 1 to 64 letters, digits, '_' or '-'"
    return None


def study_name_problem(name) -> str | None:
    """What makes `name` no study name (None: it is one)."""
    if (
        not isinstance(name, str)
        or not 1 <= len(name) <= 128
        or any(c in name for c in "/\\")
        or name.startswith(".")
        or not name.isprintable()
    ):
        return "expected a plain directory name (no / or \\, not starting with a dot)"
    return None


def study_dir(results, name) -> Path:
    """<results>/<name>, for a study name that stays inside `results` (ValueError else)."""
    problem = study_name_problem(name)
    if problem:
        raise ValueError(f"study {shown(name)}: {problem}")
    root = Path(results)
    path = root / name
    if path.resolve().parent != root.resolve():  # a link named like a study, say
        raise ValueError(f"study {shown(name)}: resolves outside {root}")
    return path


def c_name_problem(name: str) -> str | None:
    """What makes `name` no name for the exported C function (None: it is one)."""
    if not isinstance(name, str) or not C_IDENTIFIER.fullmatch(name):
        return "expected a C identifier (letters, digits, _, not starting with a digit)"
    if name in C_KEYWORDS:
        return "a C keyword"
    if name.startswith("_") or "__" in name:  # at file scope every leading _ is reserved
        return "a reserved identifier (starting with _, or holding __)"
    if name in C_LIBRARY:
        return "a name of the C library"
    if re.fullmatch(rf"(?:\w*_)?(?:{C_INTERNALS.pattern})", name):
        return "a name the generated C uses for its own symbols"
    return None


def shown(name) -> str:
    """`name` for a one-line message: quoted and escaped, at most 80 characters."""
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "..."


# The CPUs the exported C library is compiled for (study/best/c_export.py): "baseline" is
# the architecture's oldest generation still on grid nodes, "native" the building CPU.
BASELINES = {"x86_64": "x86-64-v2", "amd64": "x86-64-v2", "aarch64": "armv8-a", "arm64": "armv8-a"}
MARCHES = ("baseline", "x86-64-v2", "x86-64-v3", "x86-64-v4", "armv8-a", "native")


def march_flag(march: str = "baseline") -> str | None:
    """`-march=...` for `march` ("baseline": this architecture's BASELINES entry; None
    where it has none, the compiler's default)."""
    import platform

    if march not in MARCHES:
        raise ValueError(f"c_march: expected one of {', '.join(MARCHES)}, found {march!r}")
    if march == "baseline":
        march = BASELINES.get(platform.machine().lower())
    return f"-march={march}" if march else None
