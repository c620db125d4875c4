"""What --reload watches, and its missing extra (the restart itself: test_hot_restart)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hubbub.restart.reload import wanted


def test_only_code_and_settings_count() -> None:
    assert wanted(None, "/srv/game/app.py")
    assert wanted(None, "/srv/game/settings.toml")
    assert not wanted(None, "/srv/game/hubbub.db-wal")  # stores write all the time
    assert not wanted(None, "/srv/game/__pycache__/app.cpython-311.pyc")
    assert not wanted(None, "/srv/game/.venv/lib/site.py")
    assert not wanted(None, "/srv/game/notes.txt")


def test_without_the_extra_one_line_names_it(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import hubbub\nservice = hubbub.Service()\n")
    blocked = (
        "import sys; sys.modules['watchfiles'] = None; from hubbub.cli import main; "
        "sys.exit(main(['run', 'app.py', '--reload']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr == (
        "hubbub: --reload needs the reload extra: pip install 'hubbub[reload]'\n"
    )
