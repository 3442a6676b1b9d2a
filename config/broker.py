"""The embedded broker (no ``REDIS_URL``): kombu's filesystem transport, whole messages only.

kombu's writer creates a message's file in the queue folder and then writes into it. A
worker polling the folder can take the file in between, read nothing and stop for good
("Unrecoverable error: JSONDecodeError('Expecting value: line 1 column 1 (char 0)')", kombu
issue #1551): under a burst of retries the demo's worker died and mail waited until it was
restarted. Here a message is written under a name no reader takes and renamed into place once
complete; a rename within one folder is atomic, so a reader sees a whole message or none.
"""

import os
import uuid
from time import monotonic_ns

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # Readers take files in name order and by their ".<queue>.msg" end. kombu's names start
        # with the millisecond, so messages put within one came out in random order; the
        # nanosecond (zero-padded, the clock every process shares) keeps them first in, first out.
        name = f"{monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
