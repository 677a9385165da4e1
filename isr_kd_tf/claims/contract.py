"""What a method states about its paper (Method.claim_plan): the runs a claim needs and its margins."""

import dataclasses


@dataclasses.dataclass
class Claim:
    name: str
    paper: str
    statement: str
    margins: object       # {run name: results.json} -> {part: margin (> 0 when the part holds)}
    needs: tuple          # the plan's runs it reads (with the runs they start from)


@dataclasses.dataclass
class Plan:
    runs: dict            # run name -> settings for config.make; init_from="@name" names an earlier run
    claims: list


def row(results, model, test, metric="psnr"):
    """One number of a run's results.json."""
    for r in results["rows"]:
        if r["model"] == model and r["test"] == test:
            return r[metric]
    raise KeyError(f"no row {model} / {test} in these results")
