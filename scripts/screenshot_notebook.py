"""Open a notebook in JupyterLab under headless Chromium, run all its cells and screenshot the ConfigPanel widgets.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/screenshot_notebook.py
    .venv/bin/python scripts/screenshot_notebook.py --output /tmp/quickstart.png --timeout 600

It checks that the widgets render in a real JupyterLab (the widget manager, jupyterlab_widgets, is installed and
the kernel's widget models reach the page), which the nbval tests cannot: they run the kernel without a page.

What it does, step by step:

1. copies the notebook into a temporary folder (JupyterLab autosaves: the repository's notebook keeps no outputs)
   and starts `jupyter lab` from this Python's environment there, on a free 127.0.0.1 port with a random token,
   with DPR_NB_MODE=small (the quickstart trains its tiny model in about a minute) and its own settings, workspaces
   and runtime folders, so nothing of the user's JupyterLab setup changes or is changed;
2. opens the notebook in headless Chromium through selenium and chromedriver, and runs all cells
   (the JupyterLab command `notebook:run-all-cells`);
3. waits until an output holds the panel: rendered ipywidgets controls, one of them labelled `--label`
   (batch_size); then until the kernel has run every cell (or `--timeout`);
4. scrolls the panel into view, saves the screenshot (a PNG) and prints how many widget elements rendered
   (WIDGETS_RENDERED=n) and how many show "Click to show javascript error." instead (WIDGETS_BROKEN=n, with
   their JavaScript errors);
5. shuts JupyterLab down (also when something failed).

Exit status 0 when the panel rendered, 1 when it never did or some of its widgets failed to display (the
screenshot is still saved, to show what the page shows), 2 when the browser or the server could not be started.
Needs: `pip install selenium` and a Chromium with its chromedriver (Debian: apt-get install chromium chromium-driver).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# JupyterLab settings for a quiet, predictable page: no news or update toasts over the notebook, and every cell
# attached to the page (the default windowing may leave cells far from the viewport out of it).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

# Run in the page: the state of the notebook and of the widget panel, as one JSON-able dict.
PAGE_STATE_JS = """
const label = arguments[0];
const app = window.jupyterapp;                       // exposed by --LabApp.expose_app_in_browser
const panel = app && app.shell.currentWidget;
const model = panel && panel.content && panel.content.model;
const notebook = panel && panel.node.querySelector('.jp-Notebook');
const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
const state = {notebook: !!(model && notebook), kernel: kernel ? kernel.status : null, cells: 0, pending: 0,
               unexecuted: 0, errors: 0, panel: false, widgets: 0, broken: 0, controls: 0, labels: [], problems: []};
if (!state.notebook) return state;
for (const cell of Array.from(model.cells)) {          // the notebook's model: what ran, what raised
  if (cell.type !== 'code') continue;
  state.cells += 1;
  if (cell.executionCount === null || cell.executionCount === undefined) state.unexecuted += 1;
  if (cell.outputs.toJSON().some(output => output.output_type === 'error')) state.errors += 1;
}
for (const prompt of notebook.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')) {
  if (prompt.textContent.includes('*')) state.pending += 1;   // [*]: queued or running
}
for (const output of notebook.querySelectorAll('.jp-OutputArea-output')) {
  const text = output.textContent;
  for (const problem of ['Error displaying widget', 'Loading widget', 'model not found', 'Failed to load model']) {
    if (text.includes(problem) && !state.problems.includes(problem)) state.problems.push(problem);
  }
  // (a checkbox's label is a zero-width space: not a label)
  const labels = [...output.querySelectorAll('.widget-label')]
    .map(l => l.textContent.replace(/\\u200b/g, '').trim()).filter(t => t);
  if (!labels.includes(label)) continue;
  state.panel = true;
  state.widgets = output.querySelectorAll('.jupyter-widgets').length;
  // A widget whose view failed shows "Click to show javascript error." in place of its control.
  state.broken = output.querySelectorAll('.jupyter-widgets-error-widget').length;
  state.controls = output.querySelectorAll('input, select, textarea').length;
  state.labels = labels;
  output.setAttribute('data-screenshot-panel', 'yes');  // for the scroll before the screenshot
}
return state;
"""


# Run in the page after the screenshot: click each failed widget of the panel (that reveals its message) and read it.
WIDGET_ERRORS_JS = """
const output = document.querySelector('[data-screenshot-panel="yes"]');
if (!output) return [];
return [...output.querySelectorAll('.jupyter-widgets-error-widget')].map(error => {
  error.closest('.jupyter-widgets').click();
  return error.innerText.replace(/\\[Open Browser Console[^\\]]*\\]/, '').trim();
});
"""


def log(message: str) -> None:
    print(f"[screenshot] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def missing_requirements(chromium: str | None, chromedriver: str | None) -> list[str]:
    """What this script needs and does not find: [] when it can run."""
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install selenium)")
    if not chromium:
        missing.append("chromium (apt-get install chromium)")
    if not chromedriver:
        missing.append("chromedriver (apt-get install chromium-driver)")
    return missing


def find_browser() -> str | None:
    return next(
        (
            found
            for name in ("chromium", "chromium-browser", "google-chrome", "chrome")
            if (found := shutil.which(name))
        ),
        None,
    )


class JupyterLab:
    """`jupyter lab` serving `folder` on 127.0.0.1; a context manager that always stops it."""

    def __init__(self, folder: Path, state_dir: Path, env_extra: dict[str, str], log_path: Path):
        self.folder, self.state_dir, self.log_path = folder, state_dir, log_path
        self.port, self.token = free_port(), os.urandom(16).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env_extra}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> JupyterLab:
        settings = self.state_dir / "user-settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        for name in ("config", "data", "runtime", "workspaces"):
            (self.state_dir / name).mkdir(parents=True, exist_ok=True)
        # Isolated from ~/.jupyter: the environment's own kernel (python3 of this venv) and lab extensions
        # (jupyterlab_widgets) are found through sys.prefix; JUPYTER_PREFER_ENV_PATH puts them first.
        self.env.update(
            JUPYTER_CONFIG_DIR=str(self.state_dir / "config"),
            JUPYTER_DATA_DIR=str(self.state_dir / "data"),
            JUPYTER_RUNTIME_DIR=str(self.state_dir / "runtime"),
            JUPYTER_PREFER_ENV_PATH="1",
        )
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.folder}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={self.state_dir / 'workspaces'}",
            "--LabApp.news_url=None",
            "--LabApp.expose_app_in_browser=True",
        ]
        log(f"starting JupyterLab on {self.url} serving {self.folder} (log: {self.log_path})")
        self._log_file = open(self.log_path, "w")  # closed in __exit__
        # A session of its own: on shutdown the whole group (server and kernels) can be stopped if need be.
        self.process = subprocess.Popen(
            command,
            cwd=self.folder,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready(timeout=90)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def api(self, path: str, method: str = "GET", timeout: float = 5):
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}: see {self.log_path}")
            try:
                self.api("/api/status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer on {self.url} within {timeout:.0f} s: see {self.log_path}")

    def __exit__(self, *exc_info) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:  # the clean way: interrupt what still runs, then the server shuts its kernels down and itself
                self._interrupt_kernels()
                self.api("/api/shutdown", method="POST")
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log("JupyterLab did not stop on /api/shutdown: terminating its process group")
                self._signal_group(signal.SIGTERM)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    self.process.wait()
        log(f"JupyterLab stopped (exit status {self.process.returncode})")
        self.process = None
        self._log_file.close()

    def _interrupt_kernels(self, timeout: float = 10) -> None:
        """Interrupt busy kernels (the quickstart may still be training) and give them a moment to go idle."""
        busy = [kernel["id"] for kernel in self.api("/api/kernels") if kernel.get("execution_state") == "busy"]
        for kernel_id in busy:
            self.api(f"/api/kernels/{kernel_id}/interrupt", method="POST")
        deadline = time.monotonic() + timeout
        while busy and time.monotonic() < deadline:
            time.sleep(0.5)
            busy = [
                kernel["id"]
                for kernel in self.api("/api/kernels")
                if kernel["id"] in busy and kernel.get("execution_state") == "busy"
            ]

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)  # the group start_new_session gave it: its pid
        except ProcessLookupError:
            pass


def start_browser(chromium: str, chromedriver: str, width: int, height: int, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        f"--window-size={width},{height}",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    # Given the driver's path, selenium needs no download (Selenium Manager); SE_OFFLINE makes sure it tries none.
    os.environ.setdefault("SE_OFFLINE", "true")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    # --window-size is the window's outer size; this makes the page (and so the screenshot) exactly width x height.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    return driver


def wait_for(description: str, check, timeout: float, every: float = 1.0):
    """Call check() until it returns something true; that value, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            log(f"gave up waiting for {description} after {timeout:.0f} s")
            return None
        time.sleep(every)


def settled(state, reading: dict, timeout: float = 15) -> dict:
    """The panel's views appear one by one: read state() every second until two readings agree on its widgets."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        current = state()
        if not current["panel"]:
            return reading
        if (current["widgets"], current["broken"]) == (reading["widgets"], reading["broken"]):
            return current
        reading = current
    return reading


def run(args) -> int:
    started = time.monotonic()
    notebook = Path(args.notebook).resolve()
    output = Path(args.output).resolve()
    width, height = (int(part) for part in args.window_size.lower().split("x"))
    chromium, chromedriver = args.chromium or find_browser(), args.chromedriver or shutil.which("chromedriver")
    missing = missing_requirements(chromium, chromedriver)
    if missing:
        log("cannot run, missing: " + ", ".join(missing))
        return 2
    if not notebook.is_file():
        log(f"no notebook at {notebook}")
        return 2

    with tempfile.TemporaryDirectory(prefix="dpr_nb_screenshot_") as temp:
        temp = Path(temp)
        served = temp / "notebooks"
        served.mkdir()
        shutil.copy2(notebook, served / notebook.name)
        log(f"copied {notebook} to {served} (the copy is what runs and autosaves)")
        env_extra = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        if args.smoke:
            env_extra["DPR_NB_MODE"] = "small"
        try:
            lab = JupyterLab(served, temp / "jupyter", env_extra, temp / "jupyterlab.log")
            with lab:
                log(f"JupyterLab up after {time.monotonic() - started:.1f} s")
                status = drive_browser(
                    args, lab, notebook.name, output, chromium, chromedriver, width, height, temp / "chromium-profile"
                )
        except Exception as error:  # the server or the browser did not start: say why, with the server's log
            log(f"failed: {type(error).__name__}: {error}")
            print_server_log(temp / "jupyterlab.log")
            return 2
        if status != 0:
            print_server_log(temp / "jupyterlab.log")
    log(f"done in {time.monotonic() - started:.1f} s")
    return status


def drive_browser(
    args,
    lab: JupyterLab,
    name: str,
    output: Path,
    chromium: str,
    chromedriver: str,
    width: int,
    height: int,
    profile: Path,
) -> int:
    log(f"starting headless {chromium} ({width}x{height}) with {chromedriver}")
    driver = start_browser(chromium, chromedriver, width, height, profile)
    try:
        driver.get(f"{lab.url}/lab/tree/{name}?token={lab.token}")
        state = lambda: driver.execute_script(PAGE_STATE_JS, args.label)  # noqa: E731

        def notebook_ready():
            # The notebook is open and its kernel has started: only then does "run all" reach a kernel.
            current = state()
            return current["notebook"] and current["kernel"] in ("idle", "busy") and current

        ready = wait_for("the notebook and its kernel", notebook_ready, timeout=args.timeout)
        if not ready:
            save_screenshot(driver, output)
            return 1
        log(f"notebook open, kernel {ready['kernel']}, {ready['cells']} code cells: running all cells")
        # Not `return ...execute()`: webdriver would wait for its promise, which resolves when every cell has run.
        driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells'); return true;")
        run_started = time.monotonic()

        panel = wait_for(
            f"the widget panel (a control labelled {args.label!r})",
            lambda: (s := state())["panel"] and s["widgets"] > 0 and s,
            timeout=args.timeout,
        )
        if panel:
            panel = settled(state, panel)
        if panel:
            log(
                f"widget panel rendered after {time.monotonic() - run_started:.1f} s: {panel['widgets']} widget "
                f"elements ({panel['broken']} failed), {panel['controls']} input controls, "
                f"{len(panel['labels'])} labels"
            )
        if panel and not args.no_wait:
            left = max(10.0, args.timeout - (time.monotonic() - run_started))
            finished = wait_for(
                "every cell to finish",
                lambda: (s := state())["pending"] == 0 and s["kernel"] == "idle" and s,
                timeout=left,
            )
            if finished:
                log(
                    f"all cells finished after {time.monotonic() - run_started:.1f} s "
                    f"({finished['unexecuted']} not run, {finished['errors']} with an error traceback)"
                )
            again = state()
            panel = again if again["panel"] else panel  # read again: the widgets of the finished page

        if panel:  # the panel at the top of the window, with the markdown cell that introduces it above
            driver.execute_script("""
                const output = document.querySelector('[data-screenshot-panel="yes"]');
                const cell = output.closest('.jp-Cell');
                const before = cell.previousElementSibling;
                (before || cell).scrollIntoView({block: 'start'});
            """)
            time.sleep(1.0)  # let the page settle after the scroll
        save_screenshot(driver, output)

        final = state()
        if final["problems"]:
            log("the page shows: " + "; ".join(final["problems"]))
        if not panel:
            log(f"FAILED: no widget panel rendered (page state: {json.dumps(final)})")
            return 1
        print(f"WIDGETS_RENDERED={final['widgets'] - final['broken']}", flush=True)  # for tests/test_screenshot.py
        print(f"WIDGETS_BROKEN={final['broken']}", flush=True)
        if final["broken"]:
            log(
                f"FAILED: {final['broken']} of the panel's {final['widgets']} widget elements could not be displayed "
                '("Click to show javascript error."); their errors:'
            )
            # The message, the JS error and its first frame; the rest of a minified stack says little.
            errors = Counter("\n".join(message.splitlines()[:3]) for message in driver.execute_script(WIDGET_ERRORS_JS))
            for message, count in errors.items():
                print(f"  {count} x " + message.replace("\n", "\n      "), flush=True)
            return 1
        log(
            f"OK: widget panel with {final['widgets']} widget elements; controls labelled "
            + ", ".join(final["labels"][:8])
            + (", ..." if len(final["labels"]) > 8 else "")
        )
        return 0
    finally:
        driver.quit()


def print_server_log(path: Path, lines: int = 40) -> None:
    """The end of JupyterLab's log (server and kernel messages), on stderr: what went wrong on that side."""
    if path.exists():
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        print(f"----- {path.name}, last {len(tail)} lines -----", *tail, sep="\n", file=sys.stderr, flush=True)


def save_screenshot(driver, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    if not driver.save_screenshot(str(output)):
        raise RuntimeError(f"chromium could not write the screenshot {output}")
    log(f"saved screenshot {output} ({output.stat().st_size // 1024} KiB)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--notebook",
        default=str(REPO / "notebooks" / "00_quickstart.ipynb"),
        help="the notebook to open (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        default=str(REPO / "docs" / "screenshots" / "quickstart.png"),
        help="where the PNG goes (default: %(default)s)",
    )
    parser.add_argument(
        "--label", default="batch_size", help="a control label that tells the panel has rendered (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300,
        help="seconds to wait for the notebook, for the panel, then for all cells (default: 300)",
    )
    parser.add_argument(
        "--window-size", default="1400x2400", help="browser window, WIDTHxHEIGHT (default: %(default)s)"
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="screenshot as soon as the panel renders, without waiting for the remaining cells",
    )
    parser.add_argument(
        "--no-smoke",
        dest="smoke",
        action="store_false",
        help="do not set DPR_NB_MODE=small (the machine then chooses the CPU or the GPU mode)",
    )
    parser.add_argument("--chromium", help="the browser binary (default: chromium on PATH)")
    parser.add_argument("--chromedriver", help="the driver binary (default: chromedriver on PATH)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
