"""`psi-teleop sim`: registered, documents itself, refuses to run without --dds."""

from __future__ import annotations

import pytest

from teleop import cli
from teleop.exceptions import ConfigError


def test_sim_is_registered_with_help_and_example(capsys):
    assert "sim" in cli.COMMANDS
    parser = cli.build_parser("sim")
    help_text = parser.format_help()
    assert "--dds" in help_text and "--domain" in help_text and "--interface" in help_text
    assert "psi-teleop sim --dds" in help_text  # a runnable example in the epilog
    args = parser.parse_args(["--dds", "--domain", "3", "--interface", "lo"])
    assert (args.dds, args.domain, args.interface) == (True, 3, "lo")


def test_sim_without_dds_says_what_to_do():
    from teleop.robot import sim_cli

    args = cli.build_parser("sim").parse_args([])
    with pytest.raises(ConfigError, match="needs --dds"):
        sim_cli.run(args)
