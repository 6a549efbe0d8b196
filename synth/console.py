"""A tiny argparse front end shared by `synthscale` and each package's `python -m` entry point."""
from __future__ import annotations

import argparse
import importlib
import itertools
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

import yaml


MAX_YAML_VALUES = 1_000_000  # values of a document with its aliases expanded (a sweep config has hundreds)


class YamlTooLarge(yaml.YAMLError):
    """A document whose aliases expand beyond MAX_YAML_VALUES values, or refer to themselves."""


class CappedSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a document whose aliases expand past MAX_YAML_VALUES values
    (YamlTooLarge): PyYAML shares an alias's value, but hashing a run id or validating a config expands
    it, and 439 bytes of nested aliases under synth.knobs took 5 GB before `sweep --dry-run` was killed
    (`sweep status` and `collect` read every run's config.yaml in a shared root). Merge keys (`<<:`) are
    flattened with each key kept once (the last, which the mapping would keep): PyYAML releases before
    its own fix repeated merged keys exponentially while flattening, before any value was built."""

    def construct_document(self, node: yaml.Node) -> Any:
        data = super().construct_document(node)
        _expanded_size(data, {}, set())
        return data

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        super().flatten_mapping(node)

        def key(k: yaml.Node) -> Any:
            return (k.tag, k.value) if isinstance(k, yaml.ScalarNode) else id(k)

        last = {key(k): i for i, (k, _) in enumerate(node.value)}
        if len(last) < len(node.value):
            node.value = [pair for i, pair in enumerate(node.value) if last[key(pair[0])] == i]


class YamlLoader(CappedSafeLoader):
    """CappedSafeLoader reading `1e-3` and `2E5` as numbers, as YAML 1.2 does: YAML 1.1 (what PyYAML
    implements) needs a dot and a signed exponent (`1.0e-3`), so `lr: 1e-3` was the string '1e-3' and
    `[1e-3, 0.001]` two different values that a float field then reads as one. (Files the suite writes
    itself, such as a run's config.yaml, are read back with CappedSafeLoader: safe_dump writes the
    string '1e3' unquoted.)"""


def _expanded_size(value: Any, sizes: dict[int, int], open_: set[int]) -> int:
    """How many values `value` holds with shared (aliased) parts counted every time they appear;
    YamlTooLarge past MAX_YAML_VALUES or for a value inside itself. `sizes` memoises by id, so the
    count costs one visit per distinct object."""
    if not isinstance(value, (list, dict, tuple, set)):
        return 1
    key = id(value)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise YamlTooLarge("a value refers to itself (an alias inside its own anchor); write it out")
    open_.add(key)
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1 + sum(_expanded_size(v, sizes, open_) for v in items)
    open_.discard(key)
    if total > MAX_YAML_VALUES:
        raise YamlTooLarge(f"its aliases expand to more than {MAX_YAML_VALUES:,} values; write the values out "
                           "instead of nesting aliases")
    sizes[key] = total
    return total


YamlLoader.add_implicit_resolver(  # copies the base's table first: yaml.SafeLoader itself is unchanged
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"))


class DuplicateKey(yaml.YAMLError):
    """A mapping that gives one key twice (PyYAML keeps the last value without a word)."""

    def __init__(self, key: Any, first: int, second: int):
        super().__init__(f"{key!r} is given twice (lines {first} and {second}); keep one of them")
        self.key, self.first, self.second = key, first, second


class UniqueKeyLoader(YamlLoader):
    """The suite's YAML loader, but a key given twice in one mapping is an error, not the last value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
                seen[key] = key_node.start_mark.line + 1
            except TypeError:  # an unhashable key: the base class says so
                break
            if first is not None:
                raise DuplicateKey(key, first, key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, unique: bool = False) -> Any:
    """The value of a YAML document, read with `YamlLoader` (`UniqueKeyLoader` if `unique`: a key
    given twice in one mapping raises DuplicateKey)."""
    return yaml.load(text, Loader=UniqueKeyLoader if unique else YamlLoader)


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser with its errors in one line (a missing or malformed option printed the whole
    usage block, 10-15 lines, before the line that says what is wrong); --help is unchanged.
    Subcommands' parsers are of this class too (add_subparsers makes them of its parser's class).
    Options are taken only as spelled out: argparse's prefix matching read `fit --s fratio` (an option
    of `bound`) as --seed, and fitted nine fine-tuning sizes as nine seeds without a word."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        ns, extras = super().parse_known_args(args, namespace)
        if not hasattr(ns, "_help_prog"):  # the innermost subcommand finishes first: its help is the one to see
            ns._help_prog = self.prog
        return ns, extras


def build_parser(modules: Sequence[str], prog: str, description: str = "") -> argparse.ArgumentParser:
    """A parser whose subcommands come from `register(subparsers)` of each module in `modules`
    ("module:function" names another function than `register`)."""
    parser = OneLineParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        module, _, func = name.partition(":")
        getattr(importlib.import_module(module), func or "register")(sub)
    return parser


def parse_assignments(items: Sequence[str], what: str, example: str) -> dict[str, Any]:
    """`['a.b=1', 'c=[1, 2]']` -> {'a.b': 1, 'c': [1, 2]}, values typed as YAML; a malformed item
    is a UserError naming it (`what` and `example` say what was expected)."""
    from synth.errors import UserError

    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{what} {item!r}: expected NAME=VALUE, e.g. {example}")
        if key.strip() in out:  # the last one silently won
            first = next(i for i in items if i.partition("=")[0].strip() == key.strip())
            raise UserError(f"{what} {key.strip()} is given twice ({first!r} and {item!r}); give it once")
        try:
            out[key.strip()] = load_yaml(text) if text else None
        except yaml.YAMLError:
            fix = _unclosed_fix(items, i, what)  # `synth.n=[0, 32]` unquoted: the shell split it in two
            raise UserError(f"{what} {item!r}: the value is not valid YAML{fix}") from None
    return out


def _unclosed_fix(items: Sequence[str], i: int, what: str) -> str:
    """How to fix `items[i]` when its value opens a list or mapping it does not close: most often
    the shell split an unquoted `synth.n=[0, 32]` at the space (into `synth.n=[0,` and `32]`). The
    example joins the items that follow until the value reads, else closes the brackets; '' for
    another invalid value."""
    key, _, text = items[i].partition("=")
    if not text.lstrip().startswith(("[", "{")) or not _open_brackets(text):
        return ""
    joined = (" ".join([text, *items[i + 1:j]]) for j in range(i + 2, len(items) + 1))
    fix = next((t for t in joined if _reads(t)), None)
    kind = "list" if text.lstrip()[0] == "[" else "mapping"
    why, act = (f"the shell split the {kind} at a space", "quote") if fix else \
        (f"the {kind} is not closed", "close it and quote")
    if fix is None:  # its values up to the next NAME=VALUE item, closed (`synth.n=[0,` `32` `seed=0`: [0, 32])
        rest = list(itertools.takewhile(lambda w: "=" not in w, items[i + 1:]))
        fix = " ".join([text, *rest]).rstrip(", ")
        fix += "".join(reversed(_open_brackets(fix)))
    key = key.strip()
    single = "" if "'" in fix else f" or {key}='{fix}'"
    return f" ({why}); {act} the whole {what}, e.g. \"{key}={fix}\"{single}"


def _open_brackets(text: str) -> list[str]:
    """The closing brackets `text` still needs, innermost last ('[0, {a: 1' -> [']', '}'])."""
    closers: list[str] = []
    for ch in text:
        if ch in "[{":
            closers.append("]" if ch == "[" else "}")
        elif closers and ch == closers[-1]:
            closers.pop()
    return closers


def _reads(text: str) -> bool:
    """Whether `text` is a valid YAML value."""
    try:
        load_yaml(text)
    except yaml.YAMLError:
        return False
    return True


def folder_arg(text: str) -> Path:
    """An argparse type for a folder option (--root): a Path, refusing '' (it read as the current
    folder, where runs/ and pretrain/ then went without a word)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty; give a folder, e.g. runs/mine (or . for this one)")
    return Path(text)


def path_arg(text: str) -> Path:
    """An argparse type for an output option (-o, --output): a Path, refusing '' (an empty path read
    as the current folder: images, reports and a demo's tables went there without a word).
    (fits.cli.output_arg is the same for the fits commands, which import no torch.)"""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty; give a path (. for this folder)")
    return Path(text)


def counted(n: int, noun: str) -> str:
    """'1 cell', '2 cells': a count with its noun, plural by adding an s."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def file_in_the_way(path: Path) -> Path | None:
    """The nearest existing one of `path`'s parents if it is a file (so no folder can be made
    there, and the OS would say only "File exists" or "Not a directory"), else None."""
    above = next((q for q in path.parents if q.exists()), None)
    return above if above is not None and not above.is_dir() else None


def check_writable(folder: Path, cannot: Callable[[str], str], file: Path | None = None) -> None:
    """Create `folder` (and its parents) and check that a file can be written in it, or in `file`
    (in `folder`) if that exists: opened for append, its contents unchanged. Every output check of
    the commands (-o/--output, bench's --root) does this before the work
    whose result would be lost. An OSError (read-only or full file system, missing permission, a
    file where a folder should be) is a UserError with the line `cannot(reason)`."""
    from synth.errors import UserError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        if file is not None and file.exists():
            open(file, "ab").close()
        else:
            tempfile.TemporaryFile(dir=folder).close()  # gone when closed, even if we are killed
    except OSError as exc:
        raise UserError(cannot(str(exc.strerror or exc))) from None


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'the user can fix this': one line on stderr, exit code 2."""
    from synth.errors import UserError

    types: list[type[BaseException]] = [UserError]
    try:  # fits stands alone and has its own input error type
        from fits.errors import FitInputError

        types.append(FitInputError)
    except ImportError:
        pass
    return tuple(types)


_STOPPED_BY: list[int] = []  # the signal that asked this process to stop, once one has


def stopped_by(signum: int) -> None:
    """Record the signal that asks this process to stop (bench.train's handler, a sweep's SIGTERM):
    a command it interrupts exits 128 + its number, as a shell reports a process that signal ended
    (130 for Ctrl-C, 143 for SIGTERM: `kill`, scancel). Before, every stop exited 130."""
    _STOPPED_BY[:] = [int(signum)]


def run_cli(modules: Sequence[str], prog: str, argv: Sequence[str] | None = None,
            description: str = "", defaults: dict[str, Any] | None = None) -> int:
    """Parse `argv`, run the chosen subcommand's `func(args) -> int`, map user errors to exit 2.
    `defaults` are set on the parsed arguments unless a subcommand sets the same name."""
    parser = build_parser(modules, prog, description)
    parser.set_defaults(**(defaults or {}))
    args, extra = parser.parse_known_args(argv)
    # KEY=VALUE overrides may come after options (`run cfg.yaml --root r seed=1`), where argparse
    # has already closed the positional list: collect them here (a word without `=` is then refused
    # as a malformed override, as it would be before the options), reject unknown options.
    if extra and hasattr(args, "overrides") and not any(e.startswith("-") for e in extra):
        args.overrides = list(args.overrides or []) + extra
    elif extra:  # argparse finds these at the top, whose --help does not list the subcommand's options
        from fits.errors import did_you_mean

        where = getattr(args, "_help_prog", prog)
        parser.exit(2, f"{prog}: error: unrecognized arguments: {' '.join(extra)}"
                       f"{did_you_mean(parser, where, extra)} (see {where} --help)\n")
    from synth.allocator import reuse_freed_memory

    _STOPPED_BY.clear()  # (a command run in-process after another: tests)
    try:
        reuse_freed_memory()  # batch temporaries stay in the heap instead of page-faulting each batch
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `... | head`: the reader has gone; what was computed is kept
        if not _stdout_gone():  # another pipe broke (a child process's): a real error
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # or exit's flush fails again
        return 141  # what a shell reports for a process ended by SIGPIPE
    except user_errors() as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the fits commands (fit, compare, ...) keep no partial work to resume from
        resumes = not getattr(args.func, "__module__", "").startswith("fits.")
        print(f"{prog}: interrupted; " + ("finished work is kept, run the same command again to resume" if resumes
                                          else "this command does not resume: run it again to start over"),
              file=sys.stderr)
        return 128 + (_STOPPED_BY[0] if _STOPPED_BY else 2)  # 2: SIGINT, a KeyboardInterrupt of its own


def _stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has gone: poll reports an error on its write end (Linux), or a
    hang-up (macOS: its kernel sets POLLHUP there, and the reader's exit was a BrokenPipeError traceback)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no fileno (captured), no poll on this platform
        return False
