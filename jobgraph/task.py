"""Task: the element a job's own steps pass along, from the routed KlioMessage to its output.

Built once per message by `Task.of(msg, job)`: the validated element ID, the input and output
paths from the one path function (`routing.data_path`, so the runtime's existence checks and
the job's writer can never disagree, whatever `file_suffix` says), and the message itself,
which goes downstream when the work is done. No bytes round-trips inside a pipeline.
"""
from __future__ import annotations

import dataclasses

from jobgraph.config import JobConfig
from jobgraph.ids import validate_id
from jobgraph.message import KlioMessage
from jobgraph.routing import data_path


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """element_id: validated ID. input_path / output_path: the job's data input / output for
    this element (None where the job has none). message: the KlioMessage that asked for the
    work (None when a transform runs outside the job graph, e.g. in a test)."""

    element_id: str
    input_path: str | None
    output_path: str | None
    message: KlioMessage | None = None

    @classmethod
    def of(cls, msg: KlioMessage, job: JobConfig) -> "Task":
        """The task of a routed message (its ID was validated by the routing step)."""
        element_id = validate_id(msg.data.element, job.id_pattern)
        return cls(element_id=element_id,
                   input_path=data_path(job.data_input, element_id) if job.data_input else None,
                   output_path=data_path(job.data_output, element_id) if job.data_output else None,
                   message=msg)

    def with_payload(self, payload: bytes) -> "Task":
        """The same task whose message (a copy: elements are never mutated) carries `payload`."""
        if self.message is None:
            return self
        message = KlioMessage()
        message.CopyFrom(self.message)
        message.data.payload = payload
        return dataclasses.replace(self, message=message)
