"""What the network commands share: logging set-up and the store/settings options."""

from __future__ import annotations

import logging
import sys
import warnings


def setup_logging(verbose: bool, quiet: bool) -> None:
    """Our messages on stderr; pynetdicom's and pydicom's own chatter only with -v (our messages say
    what failed and what to do)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else (logging.ERROR if quiet else logging.INFO),
        format="%(asctime)s %(levelname)s: %(message)s" if verbose else "%(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    if not verbose:
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
        from ..core.logs import quiet_third_party_logs

        quiet_third_party_logs()
        warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")
        warnings.filterwarnings("ignore", module=r"pynetdicom(\..*)?")
    else:
        logging.getLogger("pynetdicom").setLevel(logging.INFO)
