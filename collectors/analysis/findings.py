"""The Finding model: what a rule concluded, independent of where it is shown.

Like Robusta's Finding/enrichment split, a finding holds render-neutral blocks;
the terminal, Slack and JSON renderers each turn them into their own form.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"critical": 0, "warning": 1, "info": 2}[self.value]


class TextBlock(BaseModel):
    kind: Literal["text"] = "text"
    text: str


class TableBlock(BaseModel):
    kind: Literal["table"] = "table"
    headers: list[str]
    rows: list[list[str]]


class CodeBlock(BaseModel):
    """Preformatted text such as stack frames; renderers never reflow it."""

    kind: Literal["code"] = "code"
    text: str
    title: str = ""


Block = Annotated[TextBlock | TableBlock | CodeBlock, Field(discriminator="kind")]


class Finding(BaseModel):
    rule: str = Field(description="stable rule id shown to users, e.g. THREAD_CEILING")
    severity: Severity
    title: str = Field(description="one line, with the numbers")
    hint: str = Field(default="", description="what to do about it")
    subject: str = Field(default="", description="what it is about: a pid, a container, a pool")
    collector: str = ""
    evidence: list[Block] = Field(default_factory=list)
    data: dict[str, Any] = Field(
        default_factory=dict, description="the numbers, for machines (JSON) and tests"
    )


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first, then by rule. Findings of one rule keep the order the rule gave them
    (biggest pile, longest convoy first): the sort is stable, and a subject (a stack
    digest, an address) says nothing about which matters more."""
    return sorted(findings, key=lambda f: (f.severity.rank, f.rule, f.collector))


def fmt_int(n: int) -> str:
    """31412 -> '31 412': readable at 3 a.m., unambiguous across locales."""
    return f"{n:,}".replace(",", " ")
