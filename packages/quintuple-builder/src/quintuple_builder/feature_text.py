"""What each MOAKS feature is, how it looks on DESS and what each grade looks like.

The text of the prompts (:mod:`quintuple_builder.prompts`) and of the reasoning
chains (:mod:`quintuple_builder.reasoning`) is written once here, per feature
(not per question): question-specific words (site, answer key, attribute names,
grade meanings) come from :mod:`moaks_schema`.

Observation phrases are keyed by (feature, attribute short key) and grade; the
phrases of different grades of one attribute never contain one another, so a
grade can be read back from the phrase (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

from moaks_schema import Attribute, Feature, Question

__all__ = [
    "FEATURE_TEXT",
    "FeatureText",
    "attribute_short",
    "finding_name",
    "observation_phrases",
]


@dataclass(frozen=True, slots=True)
class FeatureText:
    """Fixed text of one feature family.

    ``task`` is the zero-shot request with ``{site}`` for the question's site
    name; ``definition`` what the finding is on DESS; ``grading_notes`` MOAKS
    rules beyond the grade list; ``looks`` and ``mimics`` alternative phrasings
    for the reasoning chain (what it looks like, what it must be told apart from).
    """

    task: str
    definition: str
    grading_notes: str
    looks: tuple[str, ...]
    mimics: tuple[str, ...]


FEATURE_TEXT: dict[Feature, FeatureText] = {
    Feature.BML: FeatureText(
        task="identify and grade the bone marrow lesions (BML) in the {site} subregion",
        definition=(
            "Bone marrow lesions are ill-defined areas of increased signal in the subchondral marrow; "
            "on DESS they appear as hazy hyperintensity beneath the articular surface. Subchondral cysts "
            "are well-defined, rounded, fluid-bright foci within or beside a lesion."
        ),
        grading_notes=(
            "Grade the subregion on its own. The size grade includes any cyst; the number counts distinct "
            "lesions; the percentage grades how much of the lesion is BML rather than cyst."
        ),
        looks=(
            "on DESS a BML is an ill-defined, hazy hyperintensity in the subchondral marrow, brighter than "
            "fatty marrow but less sharply marginated than a cyst",
            "bone marrow lesions show as poorly marginated bright signal under the articular surface, while "
            "cysts are round, sharply outlined and as bright as fluid",
        ),
        mimics=(
            "it must be told apart from residual red marrow, vessels and partial volume of cartilage or "
            "joint fluid at the bone edge",
            "residual haematopoietic marrow, nutrient vessels and partial-volume signal from the cartilage "
            "surface can mimic it",
        ),
    ),
    Feature.CARTILAGE: FeatureText(
        task="identify and grade the cartilage lesion in the {site} subregion",
        definition=(
            "Articular cartilage is bright and sharply outlined against the dark subchondral bone on DESS. "
            "A cartilage lesion is focal or diffuse thinning or loss; a full-thickness defect exposes the bone."
        ),
        grading_notes=(
            "Size grades the share of the subregion's surface area with any cartilage loss; depth grades the "
            "share of the defect that is full-thickness loss."
        ),
        looks=(
            "on DESS cartilage is a bright, smooth layer over the dark cortex, and a lesion is a notch, "
            "thinning or gap in that layer",
            "the bright cartilage band should have an even thickness; a lesion interrupts or thins it, and a "
            "full-thickness defect lets fluid touch the bone",
        ),
        mimics=(
            "it must be told apart from joint fluid lying against intact cartilage, partial volume at curved "
            "surfaces and the naturally thin cartilage at the subregion edges",
            "fluid over normal cartilage, partial-volume blurring on curved surfaces and the thin cartilage at "
            "the margins can mimic a defect",
        ),
    ),
    Feature.OSTEOPHYTE: FeatureText(
        task="identify and grade the osteophyte at the {site} location",
        definition="Osteophytes are bony outgrowths at joint margins, in continuity with the cortex and marrow.",
        grading_notes=(
            "If there are several osteophytes at this location, the largest is graded. The grade reflects "
            "protrusion (how far the osteophyte extends from the joint margin) rather than its volume."
        ),
        looks=(
            "on DESS an osteophyte is a bony spur at the joint margin, continuous with the cortex and with "
            "marrow signal inside it",
            "osteophytes protrude from the articular margin as outgrowths of cortex and marrow",
        ),
        mimics=(
            "it must be told apart from the normal bony contour, ligament and capsule insertions and "
            "marginal cartilage",
            "normal marginal bone contours, capsular insertions and cartilage at the margin can look similar",
        ),
    ),
    Feature.HOFFA: FeatureText(
        task="grade Hoffa-synovitis in {site}",
        definition=(
            "Hoffa-synovitis is graded as a surrogate of synovitis from the signal of Hoffa's infrapatellar "
            "fat pad: diffuse hyperintensity within the normally dark, fat-suppressed fat pad."
        ),
        grading_notes="Grade the extent of hyperintensity within the whole fat pad.",
        looks=(
            "on DESS the fat pad is dark; synovitis shows as diffuse, ill-defined hyperintensity within it",
            "the infrapatellar fat pad should be homogeneously dark, and synovitis brightens it diffusely",
        ),
        mimics=(
            "it must be told apart from vessels, normal fat pad clefts, the infrapatellar plica and focal "
            "lesions such as ganglia",
            "vessels, clefts and the plica running through the fat pad can mimic it",
        ),
    ),
    Feature.EFFUSION: FeatureText(
        task="grade effusion-synovitis of the {site}",
        definition=(
            "Effusion-synovitis is the distension of the joint cavity by fluid and thickened synovium, "
            "seen as bright fluid signal in the suprapatellar recess and around the joint."
        ),
        grading_notes="Grade the overall capsular distension of the joint.",
        looks=(
            "on DESS joint fluid is bright, and effusion-synovitis distends the suprapatellar recess and the "
            "capsule",
            "effusion shows as bright fluid widening the suprapatellar recess and outlining the capsule",
        ),
        mimics=(
            "it must be told apart from the small physiological amount of fluid, popliteal cysts and bursae",
            "a physiological film of fluid, a popliteal cyst or a bursa can be mistaken for it",
        ),
    ),
    Feature.EXTRUSION: FeatureText(
        task="grade the {site} extrusion",
        definition=(
            "Meniscal extrusion is displacement of the meniscus beyond the margin of the tibial plateau, "
            "measured from the tibial margin (excluding osteophytes) to the outer edge of the meniscus."
        ),
        grading_notes="Measure at the slice of maximal extrusion.",
        looks=(
            "on DESS the meniscus is a dark wedge, and extrusion shows its outer edge beyond the tibial margin",
            "the dark meniscal wedge should sit over the plateau; extrusion pushes its outer edge past the "
            "tibial margin",
        ),
        mimics=(
            "it must be told apart from apparent displacement caused by marginal osteophytes and by oblique "
            "partial volume",
            "marginal osteophytes shift the reference margin and oblique sections exaggerate it",
        ),
    ),
    Feature.MORPHOLOGY: FeatureText(
        task="identify and grade the meniscal morphology of the {site}",
        definition=(
            "The meniscus is a dark fibrocartilage wedge on DESS. Intrasubstance signal does not reach an "
            "articular surface; a tear is linear signal reaching a surface; maceration is loss of meniscal "
            "tissue."
        ),
        grading_notes="Give the single code that best describes the segment.",
        looks=(
            "on DESS the meniscus is uniformly dark, and tears are bright lines reaching its surface",
            "the normal meniscus is a homogeneously dark wedge; signal reaching a surface is a tear and "
            "missing tissue is maceration",
        ),
        mimics=(
            "it must be told apart from the transverse geniculate ligament, the popliteus hiatus, the "
            "meniscofemoral ligaments and magic-angle signal",
            "adjacent ligaments, the popliteus hiatus and magic-angle effects can mimic tears",
        ),
    ),
    Feature.MENISCAL_CYST: FeatureText(
        task="identify a parameniscal cyst of the {site} and the location of the associated tear",
        definition=(
            "A parameniscal cyst is a well-defined, fluid-bright collection next to the meniscus, usually "
            "fed by a meniscal tear; the tear location names the segment it arises from."
        ),
        grading_notes="Record whether a cyst is present and where the associated tear is (or that there is none).",
        looks=(
            "on DESS a meniscal cyst is a sharply outlined bright collection abutting the meniscus",
            "parameniscal cysts are fluid-bright, often lobulated, and touch the meniscus",
        ),
        mimics=(
            "it must be told apart from joint fluid in recesses, bursae and ganglia unrelated to the meniscus",
            "fluid in the joint recesses and nearby bursae can look similar",
        ),
    ),
    Feature.MENISCAL_HYPERTROPHY: FeatureText(
        task="identify hypertrophy of the {site}",
        definition="Meniscal hypertrophy is an enlarged meniscus, taller and wider than normal for its compartment.",
        grading_notes="Record whether the meniscus is hypertrophic.",
        looks=(
            "on DESS a hypertrophic meniscus is a dark wedge clearly taller and wider than usual",
            "hypertrophy makes the dark meniscal wedge abnormally large on consecutive slices",
        ),
        mimics=(
            "it must be told apart from normal size variation and from extrusion, which displaces the "
            "meniscus without enlarging it",
            "normal variation in size and extrusion can be mistaken for it",
        ),
    ),
    Feature.ROOT_TEAR: FeatureText(
        task="identify a tear of the {site}",
        definition=(
            "A meniscal root tear is a radial tear or avulsion at the posterior root attachment of the "
            "meniscus to the tibia, seen as a fluid-bright gap at the root."
        ),
        grading_notes="Record whether a root tear is present.",
        looks=(
            "on DESS a root tear is a bright gap where the dark posterior root should attach to the tibia",
            "the posterior root should be a continuous dark band into the tibia; a tear interrupts it with fluid",
        ),
        mimics=(
            "it must be told apart from normal root signal and partial volume with the adjacent cruciate "
            "ligaments",
            "partial volume with the cruciate ligaments and normal signal at the root can mimic it",
        ),
    ),
    Feature.ACL: FeatureText(
        task="assess the {site}",
        definition=(
            "The anterior cruciate ligament is a dark band from the lateral femoral condyle to the anterior "
            "tibial spine. A complete tear is a full-thickness discontinuity; a BML or cyst at its origin or "
            "insertion is recorded separately; a repair means a reconstruction graft."
        ),
        grading_notes="Answer each item (complete tear, BML/cyst at origin or insertion, repair) as present or absent.",
        looks=(
            "on DESS the ligament is a continuous dark band, and a complete tear shows as its discontinuity",
            "an intact cruciate ligament is a taut dark band; a torn one is interrupted or absent",
        ),
        mimics=(
            "it must be told apart from mucoid degeneration, ganglion cysts, partial tears and oblique partial "
            "volume",
            "mucoid degeneration, partial tears and ganglia along the ligament can mimic a tear",
        ),
    ),
    Feature.PCL: FeatureText(
        task="assess the {site}",
        definition=(
            "The posterior cruciate ligament is a thick, dark, curved band from the medial femoral condyle to "
            "the posterior tibia. A complete tear is a full-thickness discontinuity; a BML or cyst at its "
            "origin or insertion is recorded separately."
        ),
        grading_notes="Answer each item (complete tear, BML/cyst at origin or insertion) as present or absent.",
        looks=(
            "on DESS the ligament is a continuous dark band, and a complete tear shows as its discontinuity",
            "an intact cruciate ligament is a taut dark band; a torn one is interrupted or absent",
        ),
        mimics=(
            "it must be told apart from mucoid degeneration, ganglion cysts, partial tears and oblique partial "
            "volume",
            "mucoid degeneration, partial tears and ganglia along the ligament can mimic a tear",
        ),
    ),
    Feature.PATELLAR_TENDON: FeatureText(
        task="assess the {site} for signal abnormality",
        definition=(
            "The patellar tendon runs from the lower pole of the patella to the tibial tubercle and is "
            "uniformly dark; a signal abnormality is increased signal within it (tendinosis or partial tear)."
        ),
        grading_notes="Record whether a signal abnormality is present.",
        looks=(
            "on DESS the tendon is a uniformly dark band, and abnormal signal is brightness within it",
            "a normal patellar tendon is dark throughout; tendinosis brightens part of it",
        ),
        mimics=(
            "it must be told apart from the magic-angle effect near its insertions and the adjacent fat pad "
            "and bursae",
            "magic-angle signal at the insertions and the neighbouring fat pad or bursae can mimic it",
        ),
    ),
    Feature.PERIARTICULAR: FeatureText(
        task="identify {site}",
        definition=(
            "Periarticular findings are fluid collections, signal changes or free bodies outside the main "
            "joint structures, graded as present or absent."
        ),
        grading_notes="Record whether the finding is present.",
        looks=(
            "on DESS fluid collections are bright and sharply outlined, and loose bodies are dark foci "
            "outlined by fluid",
            "periarticular collections are fluid-bright; loose fragments are dark foci surrounded by fluid",
        ),
        mimics=(
            "it must be told apart from normal recesses of the joint, vessels and neighbouring bursae",
            "joint recesses, vessels and neighbouring bursae can look similar",
        ),
    ),
}

#: Where each periarticular finding lies (used in prompts and chains).
PERIARTICULAR_SITE: dict[str, str] = {
    "pes_anserine_bursitis": "fluid distending the bursa between the pes anserinus tendons and the medial tibia",
    "iliotibial_band_signal": "increased signal around the iliotibial band lateral to the lateral femoral condyle",
    "popliteal_cyst": "a fluid collection between the medial gastrocnemius head and the semimembranosus tendon",
    "infrapatellar_bursitis": "fluid in the superficial or deep infrapatellar bursa beside the patellar tendon",
    "prepatellar_bursitis": "fluid in the bursa in front of the patella",
    "ganglion_cyst": "a well-defined, often multilocular fluid-bright cyst not communicating with the joint",
    "loose_bodies": "free fragments of bone or cartilage within the joint",
}


def attribute_short(attr: Attribute) -> str:
    """The last part of an attribute key (``"size"`` for ``"bml.FMC.size"``)."""
    return attr.key.rsplit(".", 1)[1]


def finding_name(question: Question) -> str:
    """The finding a presence question asks about, in words."""
    f = question.feature
    if f is Feature.MENISCAL_CYST:
        return f"a parameniscal cyst of the {question.site_name}"
    if f is Feature.MENISCAL_HYPERTROPHY:
        return f"{question.site_name} hypertrophy"
    if f is Feature.ROOT_TEAR:
        return f"a {question.site_name} tear"
    if f is Feature.PERIARTICULAR:
        return question.site_name
    return question.site_name


# Per (feature, attribute short key): one tuple of phrasings per grade. "{site}" and
# "{finding}" are filled in. Phrases of different grades never contain each other.
_OBS: dict[tuple[Feature, str], tuple[tuple[str, ...], ...]] = {
    (Feature.BML, "size"): (
        (
            "no marrow lesion is seen in the subregion",
            "the subchondral marrow of the subregion is clear",
        ),
        (
            "the lesion occupies less than a third of the subregion",
            "a small lesion takes up under 33% of the subregion volume",
        ),
        (
            "the lesion occupies between a third and two thirds of the subregion",
            "the lesion fills roughly 33-66% of the subregion volume",
        ),
        (
            "the lesion occupies more than two thirds of the subregion",
            "the lesion fills over 66% of the subregion volume",
        ),
    ),
    (Feature.BML, "number"): (
        ("there is no separate lesion to count", "no distinct lesion can be counted"),
        ("a single discrete lesion is present", "exactly one lesion is counted"),
        ("two separate lesions are present", "exactly two lesions are counted"),
        ("three or more separate lesions are present", "at least three lesions are counted"),
    ),
    (Feature.BML, "percent"): (
        (
            "there is no lesion for a BML share",
            "no lesion tissue is present to divide into BML and cyst",
        ),
        (
            "cyst makes up most of the lesion, with BML under a third",
            "the lesion is mainly cystic (BML below 33%)",
        ),
        (
            "BML and cyst share the lesion, BML between a third and two thirds",
            "the lesion is mixed, with BML at about 33-66%",
        ),
        (
            "the lesion is almost entirely ill-defined BML, above two thirds",
            "the lesion is predominantly BML (over 66%)",
        ),
    ),
    (Feature.CARTILAGE, "size"): (
        (
            "the cartilage surface of the subregion is intact",
            "the cartilage layer shows no loss anywhere",
        ),
        (
            "loss affects less than a tenth of the subregion surface",
            "a focal defect covers under 10% of the surface",
        ),
        (
            "loss affects between a tenth and three quarters of the subregion surface",
            "defects cover about 10-75% of the surface",
        ),
        (
            "loss affects more than three quarters of the subregion surface",
            "cartilage loss covers over 75% of the surface",
        ),
    ),
    (Feature.CARTILAGE, "depth"): (
        ("no part reaches full thickness", "the bone is nowhere exposed"),
        (
            "full-thickness loss is under a tenth of the defect",
            "bone is exposed in less than 10% of the defect",
        ),
        (
            "full-thickness loss is between a tenth and three quarters of the defect",
            "bone is exposed in about 10-75% of the defect",
        ),
        (
            "full-thickness loss is more than three quarters of the defect",
            "bone is exposed in over 75% of the defect",
        ),
    ),
    (Feature.OSTEOPHYTE, "grade"): (
        ("the joint margin is smooth with no outgrowth", "there is no bony spur at the margin"),
        (
            "a small spur protrudes slightly from the margin",
            "the largest outgrowth protrudes only a little",
        ),
        (
            "a medium-sized spur protrudes clearly from the margin",
            "the largest outgrowth has a moderate protrusion",
        ),
        (
            "a large spur protrudes far beyond the margin",
            "the largest outgrowth protrudes markedly",
        ),
    ),
    (Feature.HOFFA, "grade"): (
        ("the fat pad is homogeneously dark", "there is no hyperintensity in the fat pad"),
        (
            "faint hyperintensity involves a small part of the fat pad",
            "slight diffuse brightening is seen in the fat pad",
        ),
        (
            "moderate hyperintensity involves a good part of the fat pad",
            "clear diffuse brightening occupies much of the fat pad",
        ),
        (
            "marked hyperintensity involves most of the fat pad",
            "intense brightening fills nearly the whole fat pad",
        ),
    ),
    (Feature.EFFUSION, "grade"): (
        (
            "only a thin physiological film of fluid is present",
            "fluid does not distend the capsule",
        ),
        ("fluid slightly distends the suprapatellar recess", "a small effusion is seen"),
        ("fluid moderately distends the capsule", "a medium effusion with a convex recess is seen"),
        ("fluid markedly distends the whole capsule", "a large effusion balloons the recesses"),
    ),
    (Feature.EXTRUSION, "grade"): (
        ("the meniscal edge lies within 2 mm of the tibial margin", "extrusion is below 2 mm"),
        (
            "the meniscal edge lies 2 to 2.9 mm beyond the tibial margin",
            "extrusion measures about 2-2.9 mm",
        ),
        (
            "the meniscal edge lies 3 to 4.9 mm beyond the tibial margin",
            "extrusion measures about 3-4.9 mm",
        ),
        (
            "the meniscal edge lies 5 mm or more beyond the tibial margin",
            "extrusion reaches at least 5 mm",
        ),
    ),
    (Feature.MORPHOLOGY, "code"): (
        (
            "the segment is uniformly dark and intact",
            "no abnormal signal or tissue loss is seen in the segment",
        ),
        (
            "signal lies within the substance without reaching a surface",
            "intrasubstance signal stays away from the articular surfaces",
        ),
        (
            "a bright line runs across the segment perpendicular to its free edge",
            "a radial cleft cuts across the segment",
        ),
        (
            "a bright line runs parallel to the tibial plateau and reaches a surface",
            "a horizontal cleft splits the segment into upper and lower leaves",
        ),
        (
            "a bright line runs along the long axis of the segment, perpendicular to the plateau",
            "a vertical longitudinal cleft runs along the segment",
        ),
        (
            "bright lines run in more than one plane",
            "a complex tear with several components is seen",
        ),
        (
            "part of the meniscal tissue is missing",
            "the segment is partially macerated with tissue lost",
        ),
        (
            "tissue loss has progressed since the previous reading but remains partial",
            "partial maceration has advanced compared with the prior visit",
        ),
        (
            "the meniscal tissue of the segment is entirely missing",
            "the segment is completely macerated",
        ),
    ),
    (Feature.MENISCAL_CYST, "tear_location"): (
        (
            "the cyst communicates with a tear of the anterior horn",
            "the associated tear lies in the anterior horn",
        ),
        (
            "the cyst communicates with a tear of the meniscal body",
            "the associated tear lies in the body",
        ),
        (
            "the cyst communicates with a tear of the posterior horn",
            "the associated tear lies in the posterior horn",
        ),
        ("no associated meniscal tear is found", "there is no tear linked to a cyst"),
    ),
}

_PRESENCE_ITEM: dict[tuple[Feature, str], str] = {
    (Feature.ACL, "complete_tear"): "complete tear of the ligament",
    (Feature.ACL, "bml_cyst"): "BML or cyst at the ligament's origin or insertion",
    (Feature.ACL, "repair"): "ACL reconstruction graft",
    (Feature.PCL, "complete_tear"): "complete tear of the ligament",
    (Feature.PCL, "bml_cyst"): "BML or cyst at the ligament's origin or insertion",
    (Feature.PATELLAR_TENDON, "signal"): "abnormal signal within the tendon",
}


def observation_phrases(question: Question, attr: Attribute) -> tuple[tuple[str, ...], ...]:
    """Phrasings of what is seen, one tuple per grade of ``attr``."""
    short = attribute_short(attr)
    key = (question.feature, short)
    if key in _OBS:
        return _OBS[key]
    if short == "presence" or key in _PRESENCE_ITEM:
        item = _PRESENCE_ITEM.get(key) or finding_name(question)
        return (
            (f"there is no evidence of {item}", f"{item} is absent"),
            (f"there is clear evidence of {item}", f"{item} is present"),
        )
    raise KeyError(f"no observation text for {attr.key}")
