"""Reading labelled (or paired) inputs in Beam: ``ReadFileFn`` with the readers of ``records``."""

from __future__ import annotations

import apache_beam as beam

from lmcore import storage
from pipelines.io.readers import ReadFileFn
from pipelines.stage.accounting import DOCS, QUARANTINE, StageOutputs
from pipelines.stage.counting import COUNTS
from pipelines.stage.progress import RateLogger
from pipelines.task.config import TaskPipelineConfig
from pipelines.task.records import LabelledFileReader


class ReadLabelledFileFn(ReadFileFn):
    """``ReadFileFn`` (chunks, ``input`` counts, quarantine) over labelled records."""

    def __init__(self, config: TaskPipelineConfig, stage: str, total_bytes: int):
        super().__init__(config.read, stage, total_bytes)
        task = config.task
        # the fields besides the text that travel in ``meta``: the label (or target) and split
        self.fields = tuple(f for f in task.input_fields() if f != task.input_text_field)
        self.text_role = "source" if task.is_pairs else "text"

    def setup(self) -> None:
        self.reader = LabelledFileReader(self.config, self.fields, self.stage, self.text_role)
        self.progress = RateLogger(f"{self.stage}: reading", total_bytes=self.total_bytes)


class ReadLabelled(beam.PTransform):
    """Input files -> ``StageOutputs`` of labelled document chunks, counts and quarantine."""

    def __init__(self, files: list[storage.InputFile], config: TaskPipelineConfig, stage: str):
        super().__init__()
        self.files = files
        self.config = config
        self.stage = stage

    def expand(self, pbegin: beam.pvalue.PBegin) -> StageOutputs:
        total = sum(f.size for f in self.files)
        results = (
            pbegin
            | "ListFiles" >> beam.Create(self.files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadFiles"
            >> beam.ParDo(ReadLabelledFileFn(self.config, self.stage, total)).with_outputs(
                COUNTS, QUARANTINE, main=DOCS
            )
        )
        dropped = pbegin | "NoDropped" >> beam.Create([])
        return StageOutputs(results[DOCS], results[COUNTS], dropped, results[QUARANTINE])
