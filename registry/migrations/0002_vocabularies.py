"""The standard kinds and the administrative rank ladder ship with the schema, so that a freshly
migrated, empty database already knows them (and a CSV import into it works). Curators may add
more; this migration only creates missing entries and never overwrites curated text."""

from django.db import migrations

KINDS = [
    # code, name, plural, section, order, description
    ("national-body", "National body", "National bodies", "structure", 10,
     "A body at the top of a tree, e.g. a national committee or standing committee."),
    ("administrative-agency", "Administrative agency", "Administrative agencies", "structure", 20,
     "An office that runs a body's day-to-day administration, e.g. a General Office."),
    ("internal-department", "Internal department", "Internal departments", "structure", 30,
     "A department, bureau or office that its parent is composed of, at any depth."),
    ("affiliated-institution", "Directly affiliated institution",
     "Directly affiliated institutions", "affiliated", 40,
     "An institution its parent manages (直属单位), listed apart from the departments."),
]

# Highest first. English names follow the seed documents' usage ("deputy ministerial-level",
# "deputy bureau-level", "director-level"); Chinese names are the standard ladder.
RANKS = [
    ("national", "national-level", "国家级正职", 1),
    ("deputy-national", "deputy national-level", "国家级副职", 2),
    ("ministerial", "ministerial-level", "正部级", 3),
    ("deputy-ministerial", "deputy ministerial-level", "副部级", 4),
    ("bureau", "bureau-level", "正局级", 5),
    ("deputy-bureau", "deputy bureau-level", "副局级", 6),
    ("director", "director-level", "正处级", 7),
    ("deputy-director", "deputy director-level", "副处级", 8),
    ("section", "section-level", "正科级", 9),
    ("deputy-section", "deputy section-level", "副科级", 10),
]


def add_vocabularies(apps, schema_editor):
    Kind = apps.get_model("registry", "Kind")
    Rank = apps.get_model("registry", "Rank")
    for code, name, plural, section, order, description in KINDS:
        Kind.objects.get_or_create(
            code=code,
            defaults={"name": name, "plural_name": plural, "section": section, "order": order,
                      "description": description},
        )
    for code, name, name_zh, order in RANKS:
        Rank.objects.get_or_create(
            code=code, defaults={"name": name, "name_zh": name_zh, "order": order}
        )


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [migrations.RunPython(add_vocabularies, migrations.RunPython.noop)]
