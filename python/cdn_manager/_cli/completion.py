"""``cdn-manager completion bash|zsh|fish``: a shell's tab completion of the
commands and their options, printed for the shell to load. bash and zsh
scripts come from shtab (which reads the argparse grammar); shtab has no
fish, so the fish script is written here from the same grammar."""

from __future__ import annotations

import argparse
from typing import Any

from .app import EXIT_OK, PROG, App

SHELLS = ("bash", "zsh", "fish")

#: How to load the script, per shell (shown by ``completion --help``).
INSTALL = f"""\
examples:
  eval "$({PROG} completion bash)"                # this bash session; or, for good:
  {PROG} completion bash > ~/.local/share/bash-completion/completions/{PROG}
  {PROG} completion zsh > "${{fpath[1]}}/_{PROG}"    # then: compinit
  {PROG} completion fish > ~/.config/fish/completions/{PROG}.fish
"""


def add_completion_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], root: argparse.ArgumentParser
) -> None:
    """Adds ``completion SHELL``, which prints ``root``'s completion script."""
    summary = "print the shell's tab-completion script for cdn-manager"
    sub = commands.add_parser(
        "completion",
        help=summary,
        description=summary,
        epilog=INSTALL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    sub.add_argument("shell", choices=SHELLS, metavar="{bash,zsh,fish}")
    sub.set_defaults(run="completion:cmd_completion", parser=sub, root=root)


def cmd_completion(app: App, args: argparse.Namespace) -> int:
    root: argparse.ArgumentParser = args.root
    if args.shell == "fish":
        print(fish_script(root), end="")
    else:
        import shtab  # only here: it costs every other command's start-up

        print(shtab.complete(root, shell=args.shell), end="")
    return EXIT_OK


def _quoted(text: str) -> str:
    """``text`` as one fish word in single quotes."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _options(actions: list[argparse.Action], condition: str) -> list[str]:
    lines = []
    for action in actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        words = [f"complete -c {PROG} -n {_quoted(condition)}"]
        for flag in action.option_strings:
            words.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
        if action.nargs != 0:
            words.append("-r")
        if action.choices:
            words.append(f"-a {_quoted(' '.join(map(str, action.choices)))}")
        if action.help:
            words.append(f"-d {_quoted(action.help)}")
        lines.append(" ".join(words))
    return lines


def fish_script(root: argparse.ArgumentParser) -> str:
    """The fish completion of ``root``'s commands (with their summaries),
    each command's options, and the choices of a choice argument."""
    subparsers = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    names: dict[str, Any] = subparsers.choices
    lines = [f"# fish completion for {PROG} ({PROG} completion fish)"]
    lines += _options(root._actions, "__fish_use_subcommand")
    for name, sub in names.items():
        lines.append(
            f"complete -c {PROG} -f -n __fish_use_subcommand -a {name} "
            f"-d {_quoted(sub.description or '')}"
        )
        condition = f"__fish_seen_subcommand_from {name}"
        lines += _options(sub._actions, condition)
        for action in sub._actions:
            if not action.option_strings and action.choices:
                words = " ".join(map(str, action.choices))
                lines.append(f"complete -c {PROG} -f -n {_quoted(condition)} -a {_quoted(words)}")
    return "\n".join(lines) + "\n"
