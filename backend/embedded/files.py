"""Files and folders of `.fba/` that only we (and, under root, the servers' account) may read.

Nothing outside `.fba/` is ever chmod-ed or chown-ed: a server that cannot
reach its folder is refused with one sentence instead (see `stack.py`).
"""

import io
import os
import pwd
import secrets
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
#: Under root, `.fba/` lets the servers' group pass through (search only), nobody else.
PASS_THROUGH_DIR = 0o710
#: Permissions for the group and for others, which nothing in a server's data folder needs.
OPEN_BITS = stat.S_IRWXG | stat.S_IRWXO


def private_append(path: Path) -> io.BufferedWriter:
    """`path` opened for appending, created 0600 or made 0600 if it existed: logs may hold what the servers saw."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    return os.fdopen(fd, 'ab')


def write_private(path: Path, text: str, owner: pwd.struct_passwd | None = None) -> None:
    """Replace `path` atomically with `text`, mode 0600 (owned by `owner` if given), whether or not it existed.

    The new content goes to a fresh file created 0600 beside it, renamed over it:
    no reader ever sees a half-written file or one with looser permissions.
    """
    temporary = path.with_name(f'.{path.name}.{secrets.token_hex(4)}.tmp')
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        with os.fdopen(fd, 'w') as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
            if owner is not None:
                os.fchown(file.fileno(), owner.pw_uid, owner.pw_gid)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def private_root(root: Path, user: pwd.struct_passwd | None) -> None:
    """Create `.fba/` (or make it) 0700; under root 0710 with the servers' group, so they can pass through it."""
    root.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if user is None:
        root.chmod(PRIVATE_DIR)
    else:
        os.chown(root, -1, user.pw_gid)
        root.chmod(PASS_THROUGH_DIR)


def server_dir(path: Path, user: pwd.struct_passwd | None) -> None:
    """A server's data folder: 0700, and everything in it owned by the server's account and closed to others.

    Folders made by older versions (Redis data written as root, files 0644) are
    brought into line; a data folder already in line is only walked, not changed.
    """
    path.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    path.chmod(PRIVATE_DIR)
    for folder, names, files in os.walk(path):
        for entry in (folder, *(os.path.join(folder, name) for name in (*names, *files))):
            _make_private(entry, user)


def _make_private(entry: str, user: pwd.struct_passwd | None) -> None:
    info = os.lstat(entry)
    if user is not None and info.st_uid != user.pw_uid:
        os.lchown(entry, user.pw_uid, user.pw_gid)
    if info.st_mode & OPEN_BITS and not stat.S_ISLNK(info.st_mode):
        os.chmod(entry, stat.S_IMODE(info.st_mode) & ~OPEN_BITS)
