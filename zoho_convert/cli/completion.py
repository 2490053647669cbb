"""``zoho-convert completion bash|zsh``: a shell completion script made from the parser itself.

The script completes commands, each command's options, the values of options with choices,
module names, and file names after the options that take a path. zsh runs the bash script
through its ``bashcompinit`` layer, so there is one script to keep right, and no dependency.

Install: ``source <(zoho-convert completion bash)`` in ``~/.bashrc`` (zsh: ``… zsh`` in
``~/.zshrc``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping

from zoho_convert import DataCenter
from zoho_convert.cli.modules import MASS_SOURCES, TARGETS
from zoho_convert.cli.parser import build_parser

__all__ = ["cmd_completion", "completion_script"]

#: Options whose value is a path.
_PATH_DESTS = frozenset({"ids_file", "journal", "options_file", "failed_ids", "token_file"})
#: Values of options (by dest) and positionals that have no argparse ``choices``.
_VALUES = {
    "module": MASS_SOURCES,
    "to": TARGETS,
    "data_center": tuple(dc.name.lower() for dc in DataCenter),
}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    # argparse has no public way to walk its subcommands; _actions is stable since 3.2.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command path (``("convert",)``, ``("auth", "check")``) and its parser."""
    yield path, parser
    for name, sub in _subcommands(parser).items():
        yield from _commands(sub, (*path, name))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def _cases(parser: argparse.ArgumentParser) -> tuple[list[str], list[str]]:
    """The bash ``case`` arms: one on ``"$cmd:$prev"`` (an option's value), one on ``$cmd``."""
    values: list[str] = []
    words: list[str] = []
    for path, sub in _commands(parser):
        cmd = " ".join(path)
        children = _subcommands(sub)
        options = [o for a in sub._actions for o in a.option_strings]
        if children:
            words.append(f"        {_quote(cmd)}) opts={_quote(' '.join(children))} ;;")
            continue
        positional: list[str] = []
        for action in sub._actions:
            choices = list(action.choices or ()) or list(_VALUES.get(action.dest, ()))
            if not action.option_strings:
                positional += [str(choice) for choice in choices]
                continue
            if action.nargs == 0:
                continue
            pattern = "|".join(_quote(f"{cmd}:{option}") for option in action.option_strings)
            if action.dest in _PATH_DESTS:
                reply = 'COMPREPLY=( $(compgen -f -- "$cur") )'
            elif choices:
                words_ = _quote(" ".join(map(str, choices)))
                reply = f'COMPREPLY=( $(compgen -W {words_} -- "$cur") )'
            else:
                reply = "COMPREPLY=()"  # a free value: nothing sensible to offer
            values.append(f"        {pattern}) {reply}; return 0 ;;")
        opts = " ".join(options)
        if positional:
            words.append(
                f'        {_quote(cmd)}) if [[ "$cur" == -* ]]; then opts={_quote(opts)}; '
                f"else opts={_quote(' '.join(positional))}; fi ;;"
            )
        else:
            words.append(f"        {_quote(cmd)}) opts={_quote(opts)} ;;")
    return values, words


def _bash(parser: argparse.ArgumentParser) -> str:
    nested = [name for name, sub in _subcommands(parser).items() if _subcommands(sub)]
    values, words = _cases(parser)
    nested_arm = (
        f"            {'|'.join(_quote(name) for name in nested)}) cmd=\"$cmd $word\" ;;\n"
        if nested
        else ""
    )
    return f"""\
# bash completion for zoho-convert (made by `zoho-convert completion bash`)
_zoho_convert() {{
    local cur prev cmd word opts i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev=""
    (( COMP_CWORD > 0 )) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    cmd=""
    for (( i = 1; i < COMP_CWORD; i++ )); do
        word="${{COMP_WORDS[i]}}"
        [[ "$word" == -* ]] && continue
        case "$cmd" in
            "") cmd="$word" ;;
{nested_arm}            *) break ;;
        esac
    done
    case "$cmd:$prev" in
{chr(10).join(values)}
    esac
    opts=""
    case "$cmd" in
{chr(10).join(words)}
    esac
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
    return 0
}}
complete -o default -F _zoho_convert zoho-convert
"""


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``parser`` for ``shell`` (``bash`` or ``zsh``).

    Raises:
        ValueError: another shell.
    """
    if shell == "bash":
        return _bash(parser)
    if shell == "zsh":
        return (
            "#compdef zoho-convert\n"
            "# zsh completion for zoho-convert (made by `zoho-convert completion zsh`): the bash\n"
            "# completion, through zsh's bashcompinit.\n"
            "(( $+functions[compdef] )) || { autoload -U +X compinit && compinit; }\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + _bash(parser)
        )
    raise ValueError(f"no completion for {shell!r}: bash or zsh")


async def cmd_completion(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``zoho-convert completion SHELL``: print the script on stdout."""
    sys.stdout.write(completion_script(build_parser(), args.shell))
    return 0
