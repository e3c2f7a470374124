#!/usr/bin/env python3
"""Writes a sequence-to-sequence task for models/seq2seq_dates.toml: dates written as people write
them, to translate into ISO 8601.

    python3 tools/make_dates_tsv.py [DIR] [--train N] [--test N] [--seed S]

DIR (default data/dates) gets train.tsv and test.tsv, one pair per line, "source<TAB>target":

    3 march 1997        1997-03-03
    Mar 3, 1997         1997-03-03
    03/03/1997          1997-03-03
    monday, 3 march 1997   1997-03-03

Dates are uniform over 1950-01-01 .. 2049-12-31, each written in one of 12 formats (day-month
and month-day orders, full and abbreviated month names, upper/lower/capitalised, with and without
the weekday, numeric with / . -), chosen uniformly. The test dates are drawn after the training
ones from the same generator and never repeat a training source. Deterministic for a given seed
(Python's random module); standard library only.
"""
import argparse
import datetime
import os
import random

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def case(text, rng):
    return rng.choice([text, text.capitalize(), text.upper()])


def written(d, rng):
    month, month3 = MONTHS[d.month - 1], MONTHS[d.month - 1][:3]
    day = DAYS[d.weekday()]
    formats = [
        lambda: f"{d.day} {case(month, rng)} {d.year}",
        lambda: f"{d.day} {case(month3, rng)} {d.year}",
        lambda: f"{case(month, rng)} {d.day}, {d.year}",
        lambda: f"{case(month3, rng)} {d.day}, {d.year}",
        lambda: f"{d.day:02d}/{d.month:02d}/{d.year}",
        lambda: f"{d.day:02d}.{d.month:02d}.{d.year}",
        lambda: f"{d.year}/{d.month:02d}/{d.day:02d}",
        lambda: f"{case(day, rng)}, {d.day} {case(month, rng)} {d.year}",
        lambda: f"{case(day[:3], rng)} {d.day} {case(month3, rng)} {d.year}",
        lambda: f"the {d.day} of {case(month, rng)} {d.year}",
        lambda: f"{d.day} {case(month3, rng)} '{d.year % 100:02d}",  # the century from 1950..2049
        lambda: f"{case(month, rng)} {d.day} {d.year}",
    ]
    return rng.choice(formats)()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", nargs="?", default="data/dates")
    p.add_argument("--train", type=int, default=20000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rng = random.Random(a.seed)
    start, days = datetime.date(1950, 1, 1), (datetime.date(2049, 12, 31) - datetime.date(1950, 1, 1)).days + 1
    os.makedirs(a.dir, exist_ok=True)
    seen = set()
    for name, count in (("train.tsv", a.train), ("test.tsv", a.test)):
        with open(os.path.join(a.dir, name), "w", encoding="utf-8") as f:
            written_count = 0
            while written_count < count:
                d = start + datetime.timedelta(days=rng.randrange(days))
                source = written(d, rng)
                if name == "test.tsv" and source in seen:
                    continue
                seen.add(source)
                f.write(f"{source}\t{d.isoformat()}\n")
                written_count += 1
    print(f"{a.dir}: train.tsv ({a.train} pairs), test.tsv ({a.test} pairs)")


if __name__ == "__main__":
    main()
