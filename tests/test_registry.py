import textwrap

import pytest

from benchsuite import registry
from benchsuite.errors import ConfigError
from benchsuite.registry import UnknownNameError, register


@pytest.mark.parametrize("name", ["Upper", "with space", "a/b", "sn+r1", "", "-lead", "tab\t"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(ValueError, match="invalid component name"):
        register("objective", name)


def test_duplicate_name_is_an_error():
    registry.load_builtins()
    with pytest.raises(ValueError, match="duplicate objective name 'nonsaturating'"):
        register("objective", "nonsaturating")(type("Other", (), {}))


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown component kind"):
        register("loss", "x")


def test_unknown_name_lists_registered_names_and_closest_match():
    with pytest.raises(UnknownNameError) as caught:
        registry.lookup("objective", "nonsaturatng")
    message = str(caught.value)
    assert "Did you mean 'nonsaturating'?" in message
    for name in ("minimax", "wgan", "hinge", "lsgan"):
        assert name in message


def test_builtins_are_discovered_by_importing_subpackages():
    assert {"minimax", "nonsaturating", "wgan", "lsgan", "hinge"} <= set(registry.names("objective"))
    assert {"none", "clip", "gp", "r1", "r2", "sn", "instance-noise"} <= set(registry.names("regulariser"))
    assert {"ring8", "grid25"} <= set(registry.names("dataset"))
    assert "mlp" in registry.names("architecture")
    assert "modes" in registry.names("metric")


def test_every_entry_has_a_description():
    for kind in registry.KINDS:
        for entry in registry.entries(kind):
            assert entry.description, f"{kind} {entry.name} has no docstring"


def test_plugin_file_registers_once_even_when_loaded_twice(tmp_path):
    plugin = tmp_path / "my_objective.py"
    plugin.write_text(textwrap.dedent('''
        from benchsuite.objectives.nonsaturating import NonSaturating
        from benchsuite.registry import register

        @register("objective", "plugin-test-objective")
        class PluginObjective(NonSaturating):
            """A test objective."""
    '''))
    registry.load_plugins([plugin])
    registry.load_plugins([str(plugin)])
    assert "plugin-test-objective" in registry.names("objective")


def test_missing_or_broken_plugin_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        registry.load_plugins([tmp_path / "absent.py"])
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match="failed to import: RuntimeError: boom"):
        registry.load_plugins([broken])
