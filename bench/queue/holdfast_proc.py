"""`python -m bench.queue.holdfast_proc CONFIG SOUNDS_HOST_DIR SOUNDS_ASTERISK_DIR`: the Holdfast
service in its own process (so /proc gives its CPU alone), like `holdfast run` but with the shipped
prompts copied where the benchmark's (possibly chrooted) SUT Asterisk can read them."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from app import logs
from app.config import load_config
from app.runner import serve
from app.telephony.prompts import PromptBook, install_prompts


def main(argv: list[str]) -> int:
    config_path, sounds_host, sounds_asterisk = argv
    config = load_config(Path(config_path))
    logs.configure(config.service.log_level)
    install_prompts(Path(sounds_host))
    prompts = PromptBook.from_config(
        config.prompts, config.service.language, Path(sounds_host), asterisk_path=sounds_asterisk
    )
    return asyncio.run(serve(config, prompts, config_path=Path(config_path)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
