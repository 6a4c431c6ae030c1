"""A corpus of realistic model replies, each pinned to its exact reading.

Every question family (BML, cartilage, osteophyte, Hoffa, effusion, extrusion,
morphology, meniscal cyst, hypertrophy, root tear, ACL, PCL, patellar tendon,
periarticular) and every parser failure kind appears at least once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import moaks_schema as ms
import pytest
from bench_metrics import FailureKind, parse_answer

F = FailureKind
NO_OBJ, WRONG, MISSING, NAN, RANGE = (
    F.NO_ANSWER_OBJECT,
    F.WRONG_REGION,
    F.KEY_MISSING,
    F.NOT_A_NUMBER,
    F.OUT_OF_RANGE,
)
BOX_MISSING, BOX_BAD = F.BOX_MISSING, F.BOX_MALFORMED


@dataclass(frozen=True)
class Case:
    name: str
    qid: int
    text: str
    grades: dict[str, int] = field(default_factory=dict)  # short attribute name -> grade
    fails: dict[str, FailureKind] = field(default_factory=dict)  # short attribute name -> failure
    box: list[int] | FailureKind | None = (
        None  # public form as written, a box failure, or None (not boxed)
    )
    repaired: bool = False
    think: str | None = None
    reasoning_has: str | None = None


BML4 = "femur medial central BML"
SIZE, NUM, PCT = (
    "Size of BML (including cyst)",
    "Number of BML within subregion",
    "% of lesion that is BML (excluding cyst)",
)

CORPUS: list[Case] = [
    # ------------------------------------------------------------------ BML (1-15)
    Case(
        "bml clean, builder layout",
        4,
        "Bounding box: [52, 88, 140, 210, 160, 230]\nReasoning:\n1. Locate the femur medial central subregion "
        "on the sagittal slices.\n2. BMLs are ill-defined hyperintense areas in the marrow.\n3. One lesion "
        "under 33% of the subregion.\n```json\n"
        f'{{"MOAKS_scores": {{"{BML4}": {{"{SIZE}": 1, "{NUM}": 1, "{PCT}": 3}}}}}}\n```',
        {"size": 1, "number": 1, "percent": 3},
        box=[52, 88, 140, 210, 160, 230],
        reasoning_has="ill-defined",
    ),
    Case(
        "builder target layout: labelled box line wins over boxes in the steps",
        4,
        "Box: [52, 88, 140, 210, 160, 230]\nReasoning:\n1. The femur medial central subregion lies in "
        "[52, 88, 140, 210, 160, 230].\n2. Compare with the neighbour at [10, 20, 30, 40, 50, 60].\n"
        f'MOAKS: {{"MOAKS_scores": {{"{BML4}": {{"{SIZE}": 0, "{NUM}": 0, "{PCT}": 0}}}}}}',
        {"size": 0, "number": 0, "percent": 0},
        box=[52, 88, 140, 210, 160, 230],
        reasoning_has="neighbour",
    ),
    Case(
        "builder layout with Box: none for a boxed question",
        30,
        'Box: none\nMOAKS: {"MOAKS_scores": {"patella superior osteophyte": {"grade": 0}}}',
        {"grade": 0},
        box=BOX_MISSING,
    ),
    Case(
        "bml MOAKS_grade wrapper, keys in other case and underscores",
        4,
        '{"MOAKS_grade": {"Femur_Medial_Central_BML": {"size_of_bml_including_cyst": 2, '
        '"NUMBER OF BML WITHIN SUBREGION": 1, "% of lesion that is BML (excluding cyst)": 2}}, '
        '"bbox": [50, 90, 138, 212, 158, 231]}',
        {"size": 2, "number": 1, "percent": 2},
        box=[50, 90, 138, 212, 158, 231],
    ),
    Case(
        "bml no wrapper, trailing commas",
        7,
        'Here is my assessment.\n{"femur lateral central BML": {"Size of BML (including cyst)": 0,'
        ' "Number of BML within subregion": 0, "% of lesion that is BML (excluding cyst)": 0,},}\n'
        "Bounding box: [70, 110, 150, 220, 150, 220]",
        {"size": 0, "number": 0, "percent": 0},
        box=[70, 110, 150, 220, 150, 220],
        repaired=True,
    ),
    Case(
        "bml python-style single quotes",
        1,
        "{'MOAKS_scores': {'patella medial BML': {'Size of BML (including cyst)': 1, "
        "'Number of BML within subregion': 2, '% of lesion that is BML (excluding cyst)': 1}}}",
        {"size": 1, "number": 2, "percent": 1},
        box=BOX_MISSING,
        repaired=True,
    ),
    Case(
        "bml typographic quotes",
        15,
        "The answer is \u201c{\u201cMOAKS_scores\u201d: {\u201ctibia subspinous BML\u201d: "
        "{\u201cSize of BML (including cyst)\u201d: 0, \u201cNumber of BML within subregion\u201d: 0, "
        "\u201c% of lesion that is BML (excluding cyst)\u201d: 0}}}",
        {"size": 0, "number": 0, "percent": 0},
        box=BOX_MISSING,
        repaired=True,
    ),
    Case(
        "bml grades as labelled strings",
        10,
        '```json\n{"MOAKS_scores": {"tibia medial central BML": {"Size of BML (including cyst)": "Grade 2", '
        '"Number of BML within subregion": "2 (two lesions)", "% of lesion that is BML (excluding cyst)": '
        '"3 (>66% of the lesion is BML)"}}, "box": [40, 75, 150, 230, 250, 300]}\n```',
        {"size": 2, "number": 2, "percent": 3},
        box=[40, 75, 150, 230, 250, 300],
    ),
    Case(
        "bml one grade out of range",
        4,
        f'{{"MOAKS_scores": {{"{BML4}": {{"{SIZE}": 4, "{NUM}": 1, "{PCT}": 2}}}}, "bbox": [1, 2, 3, 4, 5, 6]}}',
        {"number": 1, "percent": 2},
        {"size": RANGE},
        box=[1, 2, 3, 4, 5, 6],
    ),
    Case(
        "bml answer about another region",
        4,
        'Looking at the lateral condyle instead.\n{"MOAKS_scores": {"femur lateral central BML": '
        '{"Size of BML (including cyst)": 1, "Number of BML within subregion": 1, '
        '"% of lesion that is BML (excluding cyst)": 1}}}',
        fails={"size": WRONG, "number": WRONG, "percent": WRONG},
        box=BOX_MISSING,
    ),
    Case(
        "bml template first, answer last",
        4,
        'I will answer in the format {"MOAKS_scores": {"femur medial central BML": {"Size of BML (including cyst)": '
        '"0-3", "Number of BML within subregion": "0-3", "% of lesion that is BML (excluding cyst)": "0-3"}}}.\n'
        "After review:\n"
        f'{{"MOAKS_scores": {{"{BML4}": {{"{SIZE}": 2, "{NUM}": 3, "{PCT}": 1}}}}}}',
        {"size": 2, "number": 3, "percent": 1},
        box=BOX_MISSING,
    ),
    Case(
        "bml truncated output",
        5,
        'Box: [60, 100, 120, 200, 250, 320]\n```json\n{"MOAKS_scores": {"femur medial posterior BML": '
        '{"Size of BML (including cyst)": 1, "Number of BML within subregion": 1, "% of les',
        {"size": 1, "number": 1},
        {"percent": MISSING},
        box=[60, 100, 120, 200, 250, 320],
        repaired=True,
    ),
    Case(
        "bml grade as a word",
        9,
        '{"MOAKS_scores": {"tibia medial anterior BML": {"Size of BML (including cyst)": "moderate", '
        '"Number of BML within subregion": 1, "% of lesion that is BML (excluding cyst)": null}}}',
        {"number": 1},
        {"size": NAN, "percent": NAN},
        box=BOX_MISSING,
    ),
    Case(
        "bml grade as a range",
        12,
        '{"MOAKS_scores": {"tibia lateral anterior BML": {"Size of BML (including cyst)": "1-2", '
        '"Number of BML within subregion": "2 or 3", "% of lesion that is BML (excluding cyst)": "Grade 1"}}}',
        {"percent": 1},
        {"size": F.AMBIGUOUS, "number": F.AMBIGUOUS},
        box=BOX_MISSING,
    ),
    Case(
        "bml thinking block with a draft, answer after",
        3,
        '<think>Maybe {"MOAKS_scores": {"femur medial trochlea BML": {"Size of BML (including cyst)": 3}}}. '
        "No, the signal is small.</think>\n"
        '{"MOAKS_scores": {"femur medial trochlea BML": {"Size of BML (including cyst)": 1, '
        '"Number of BML within subregion": 1, "% of lesion that is BML (excluding cyst)": 2}}, '
        '"bbox": [30, 60, 100, 160, 100, 150]}',
        {"size": 1, "number": 1, "percent": 2},
        box=[30, 60, 100, 160, 100, 150],
        think='Maybe {"MOAKS_scores": {"femur medial trochlea BML": {"Size of BML (including cyst)": 3}}}. '
        "No, the signal is small.",
    ),
    Case(
        "bml cut off while thinking",
        6,
        "<think>The femur lateral trochlea shows some hyperintensity; the box might be [20, 40, 1",
        fails={"size": NO_OBJ, "number": NO_OBJ, "percent": NO_OBJ},
        box=BOX_MISSING,
        think="The femur lateral trochlea shows some hyperintensity; the box might be [20, 40, 1",
    ),
    Case(
        "bml prose only",
        8,
        "There is a moderate bone marrow lesion, I would grade the size as 2 and count one lesion.",
        fails={"size": NO_OBJ, "number": NO_OBJ, "percent": NO_OBJ},
        box=BOX_MISSING,
    ),
    Case(
        "bml attributes without the answer key",
        11,
        '{"MOAKS_scores": {"Size of BML (including cyst)": 0, "Number of BML within subregion": 0, '
        '"% of lesion that is BML (excluding cyst)": 0}, "bbox": [10, 30, 200, 260, 250, 300]}',
        {"size": 0, "number": 0, "percent": 0},
        box=[10, 30, 200, 260, 250, 300],
    ),
    Case(
        "bml abbreviated answer key",
        4,
        '{"MOAKS_scores": {"FMC BML": {"size": 1, "number": 1, "percent": 1}}}',
        fails={"size": MISSING, "number": MISSING, "percent": MISSING},
        box=BOX_MISSING,
    ),
    Case(
        "bml reasoning inside the object",
        13,
        '{"bounding_box": [45, 80, 210, 270, 240, 300], "reasoning": ["Locate the tibia lateral central '
        'subregion.", "No marrow oedema-like signal."], "MOAKS_scores": {"tibia lateral central BML": '
        '{"Size of BML (including cyst)": 0, "Number of BML within subregion": 0, '
        '"% of lesion that is BML (excluding cyst)": 0}}}',
        {"size": 0, "number": 0, "percent": 0},
        box=[45, 80, 210, 270, 240, 300],
        reasoning_has="No marrow oedema-like signal.",
    ),
    # ------------------------------------------------------------------ cartilage (16-29)
    Case(
        "cartilage clean",
        19,
        'Bounding box: [50, 85, 130, 200, 150, 220]\n```json\n{"MOAKS_scores": {"femur medial central cartilage '
        'lesion": {"Size of lesion": 2, "Depth of lesion": 1}}}\n```',
        {"size": 2, "depth": 1},
        box=[50, 85, 130, 200, 150, 220],
    ),
    Case(
        "cartilage grade with a percent range in brackets",
        22,
        '{"MOAKS_scores": {"femur lateral central cartilage lesion": {"Size of lesion": "Grade 2 (10\u201375% of '
        'the subregion)", "Depth of lesion": "0 (none)"}}}',
        {"size": 2, "depth": 0},
        box=BOX_MISSING,
    ),
    Case(
        "cartilage depth missing",
        27,
        '{"MOAKS_scores": {"tibia lateral anterior cartilage lesion": {"Size of lesion": 1}}, '
        '"bbox": [60, 90, 200, 250, 260, 320]}',
        {"size": 1},
        {"depth": MISSING},
        box=[60, 90, 200, 250, 260, 320],
    ),
    Case(
        "cartilage label after a dash, and a trailing period",
        16,
        '{"MOAKS_scores": {"patella medial cartilage lesion": {"Size of lesion": "1 - small", '
        '"Depth of lesion": "3."}}}',
        {"size": 1, "depth": 3},
        box=BOX_MISSING,
    ),
    # ------------------------------------------------------------------ osteophytes (30-41)
    Case(
        "osteophyte fenced, Grade string",
        30,
        'Reasoning: the superior pole shows a spur.\n```json\n{"MOAKS_scores": {"patella superior osteophyte": '
        '{"grade": "Grade 2"}}}\n```\nBounding box: [40, 70, 60, 110, 90, 150]',
        {"grade": 2},
        box=[40, 70, 60, 110, 90, 150],
    ),
    Case(
        "osteophyte bare integer under the answer key",
        34,
        '{"MOAKS_scores": {"femur medial anterior osteophyte": 1}, "bbox": [20, 50, 100, 160, 60, 120]}',
        {"grade": 1},
        box=[20, 50, 100, 160, 60, 120],
    ),
    Case(
        "osteophyte integral float",
        41,
        '{"MOAKS_scores": {"tibia lateral osteophyte": {"grade": 2.0}}}',
        {"grade": 2},
        box=BOX_MISSING,
    ),
    Case(
        "osteophyte non-integral grade",
        35,
        '{"MOAKS_scores": {"femur medial central osteophyte": {"grade": 2.5}}}',
        fails={"grade": RANGE},
        box=BOX_MISSING,
    ),
    Case(
        "osteophyte label word only",
        33,
        '{"MOAKS_scores": {"patella lateral osteophyte": {"grade": "large"}}}',
        fails={"grade": NAN},
        box=BOX_MISSING,
    ),
    Case(
        "osteophyte boolean is not a grade",
        31,
        '{"MOAKS_scores": {"patella inferior osteophyte": {"grade": true}}}',
        fails={"grade": NAN},
        box=BOX_MISSING,
    ),
    Case(
        "osteophyte object inside a list",
        38,
        '[{"MOAKS_scores": {"femur lateral central osteophyte": {"grade": 0}}, "bbox": [90, 120, 140, 200, 150, 210]}]',
        {"grade": 0},
        box=[90, 120, 140, 200, 150, 210],
    ),
    Case(
        "osteophyte box written as a string",
        40,
        '{"MOAKS_scores": {"tibia medial osteophyte": {"grade": 1}}, "bbox": "[30, 60, 200, 260, 240, 300]"}',
        {"grade": 1},
        box=[30, 60, 200, 260, 240, 300],
    ),
    Case(
        "osteophyte normalised box coordinates are not voxel indices",
        39,
        '{"MOAKS_scores": {"femur lateral posterior osteophyte": {"grade": 0}}, '
        '"bbox": [0.2, 0.4, 0.3, 0.5, 0.6, 0.8]}',
        {"grade": 0},
        box=BOX_BAD,
    ),
    # ------------------------------------------------------------------ Hoffa (42), effusion (43)
    Case(
        "hoffa with box in prose",
        42,
        "3D bounding box [start_slice, end_slice, x_min, x_max, y_min, y_max]: [60, 95, 170, 230, 120, 190]\n"
        '{"MOAKS_scores": {"Hoffa-Synovitis": {"grade": 1}}}',
        {"grade": 1},
        box=[60, 95, 170, 230, 120, 190],
    ),
    Case(
        "hoffa key spelled with a space and a score alias",
        42,
        '{"Hoffa synovitis": {"score": "1 (mild)"}, "bbox": [61, 94, 171, 229, 121, 189]}',
        {"grade": 1},
        box=[61, 94, 171, 229, 121, 189],
    ),
    Case(
        "hoffa: a strict answer beats a later truncated one",
        42,
        '{"MOAKS_scores": {"Hoffa-Synovitis": {"grade": 2}}, "bbox": [1, 9, 1, 9, 1, 9]}\nOn second thought '
        '{"MOAKS_scores": {"Hoffa-Synovitis": {"grade": 0',
        {"grade": 2},
        box=[1, 9, 1, 9, 1, 9],
    ),
    Case(
        "effusion clean, no box needed",
        43,
        '{"MOAKS_scores": {"effusion-synovitis": {"grade": 3}}}',
        {"grade": 3},
    ),
    Case(
        "effusion word grade",
        43,
        '{"Effusion_Synovitis": {"grade": "moderate"}}',
        fails={"grade": NAN},
    ),
    Case(
        "effusion closing think tag without an opening one",
        43,
        'The suprapatellar recess is distended.</think>\n{"MOAKS_scores": {"effusion-synovitis": {"grade": 2}}}',
        {"grade": 2},
        think="The suprapatellar recess is distended.",
    ),
    # ------------------------------------------------------------------ extrusion (44-47)
    Case(
        "extrusion 44 bare integer as published",
        44,
        '{"MOAKS_scores": {"medial meniscus anterior extrusion": 2}, "bbox": [70, 100, 150, 190, 200, 240]}',
        {"grade": 2},
        box=[70, 100, 150, 190, 200, 240],
    ),
    Case(
        "extrusion 45 object form also read",
        45,
        '{"MOAKS_scores": {"medial meniscus medial extrusion": {"grade": 1}}}',
        {"grade": 1},
        box=BOX_MISSING,
    ),
    Case(
        "extrusion 46 no wrapper",
        46,
        '{"lateral meniscus anterior extrusion": {"grade": 0}}',
        {"grade": 0},
        box=BOX_MISSING,
    ),
    Case(
        "extrusion 47 out of range",
        47,
        '{"MOAKS_scores": {"lateral meniscus lateral extrusion": 5}}',
        fails={"grade": RANGE},
        box=BOX_MISSING,
    ),
    Case(
        "extrusion millimetre label",
        44,
        '{"MOAKS_scores": {"medial meniscus anterior extrusion": "2 (3-4.9 mm)"}}',
        {"grade": 2},
        box=BOX_MISSING,
    ),
    Case(
        "extrusion JSON with comments",
        45,
        '{\n  // extrusion beyond the tibial margin\n  "MOAKS_scores": {"medial meniscus medial extrusion": 3}\n}',
        {"grade": 3},
        box=BOX_MISSING,
        repaired=True,
    ),
    # ------------------------------------------------------------------ morphology (48-53)
    Case(
        "morphology code",
        48,
        '{"MOAKS_scores": {"medial meniscus anterior morphology": {"morphology": 3}}, "bbox": [80, 100, 160, 200, 180, 230]}',
        {"code": 3},
        box=[80, 100, 160, 200, 180, 230],
    ),
    Case(
        "morphology code out of range",
        53,
        '{"MOAKS_scores": {"lateral meniscus posterior morphology": {"morphology": 9}}}',
        fails={"code": RANGE},
        box=BOX_MISSING,
    ),
    Case(
        "morphology described in words",
        50,
        '{"MOAKS_scores": {"medial meniscus posterior morphology": {"morphology": "horizontal tear"}}}',
        fails={"code": NAN},
        box=BOX_MISSING,
    ),
    Case(
        "morphology grade alias",
        51,
        '{"MOAKS_scores": {"lateral meniscus anterior morphology": {"grade": 5}}}',
        {"code": 5},
        box=BOX_MISSING,
    ),
    # ------------------------------------------------------------------ meniscal cyst (54-55)
    Case(
        "meniscal cyst clean",
        54,
        '{"MOAKS_scores": {"medial_meniscal_cyst": {"presence": 1, "tear_location": 2}}, "bbox": [90, 130, 150, 250, 180, 260]}',
        {"presence": 1, "tear_location": 2},
        box=[90, 130, 150, 250, 180, 260],
    ),
    Case(
        "meniscal cyst presence as a word",
        55,
        '{"MOAKS_scores": {"lateral meniscal cyst": {"presence": "no", "tear_location": 3}}}',
        {"presence": 0, "tear_location": 3},
        box=BOX_MISSING,
    ),
    Case(
        "meniscal cyst tear location in words",
        54,
        '{"MOAKS_scores": {"medial_meniscal_cyst": {"presence": true, "tear_location": "posterior horn"}}}',
        {"presence": 1},
        {"tear_location": NAN},
        box=BOX_MISSING,
    ),
    # ------------------------------------------------------------------ hypertrophy (56-57), root tear (58-59)
    Case(
        "hypertrophy absent",
        56,
        '{"MOAKS_scores": {"medial_meniscal_hypertrophy": {"presence": 0}}}',
        {"presence": 0},
        box=BOX_MISSING,
    ),
    Case(
        "hypertrophy JSON false",
        57,
        '{"MOAKS_grade": {"lateral_meniscal_hypertrophy": {"presence": false}}}',
        {"presence": 0},
        box=BOX_MISSING,
    ),
    Case(
        "root tear with the box as an object",
        58,
        '{"MOAKS_scores": {"medial_meniscal_root_tear": {"presence": 1}}, "bbox": {"start_slice": 95, '
        '"end_slice": 120, "x_min": 230, "x_max": 270, "y_min": 200, "y_max": 240}}',
        {"presence": 1},
        box=[95, 120, 230, 270, 200, 240],
    ),
    Case(
        "root tear presence 2",
        59,
        '{"MOAKS_scores": {"lateral_meniscal_root_tear": {"presence": 2}}}',
        fails={"presence": RANGE},
        box=BOX_MISSING,
    ),
    # ------------------------------------------------------------------ ACL (60), PCL (61), patellar tendon (62)
    Case(
        "acl clean",
        60,
        '{"MOAKS_scores": {"ACL": {"Complete Tear": 0, "Associated with BML/cyst at site of insertion or origin": 1, '
        '"ACL Repair": 0}}, "bbox": [70, 95, 150, 230, 140, 220]}',
        {"complete_tear": 0, "bml_cyst": 1, "repair": 0},
        box=[70, 95, 150, 230, 140, 220],
    ),
    Case(
        "acl repair key missing",
        60,
        '{"MOAKS_scores": {"acl": {"complete_tear": 1, "associated with BML / cyst at site of insertion or origin": 0}}}',
        {"complete_tear": 1, "bml_cyst": 0},
        {"repair": MISSING},
        box=BOX_MISSING,
    ),
    Case(
        "acl box with three numbers",
        60,
        '{"MOAKS_scores": {"ACL": {"Complete Tear": 0, "Associated with BML/cyst at site of insertion or origin": 0, '
        '"ACL Repair": 0}}, "bbox": [10, 20, 30]}',
        {"complete_tear": 0, "bml_cyst": 0, "repair": 0},
        box=BOX_BAD,
    ),
    Case(
        "pcl yes/no words",
        61,
        '{"MOAKS_scores": {"PCL": {"Complete Tear": "No", "Associated with BML/cyst at site of insertion or origin": "Yes"}}}',
        {"complete_tear": 0, "bml_cyst": 1},
        box=BOX_MISSING,
    ),
    Case(
        "pcl inverted box",
        61,
        '{"MOAKS_scores": {"PCL": {"Complete Tear": 0, "Associated with BML/cyst at site of insertion or origin": 0}}, '
        '"bbox": [90, 60, 150, 200, 150, 220]}',
        {"complete_tear": 0, "bml_cyst": 0},
        box=BOX_BAD,
    ),
    Case(
        "patellar tendon clean",
        62,
        '{"MOAKS_scores": {"Patellar_Tendon": {"Signal Abnormality": 1}}, "bbox": [60, 90, 40, 80, 200, 320]}',
        {"signal": 1},
        box=[60, 90, 40, 80, 200, 320],
    ),
    Case(
        "patellar tendon answered as the ACL",
        62,
        '{"MOAKS_scores": {"ACL": {"Complete Tear": 0, "Associated with BML/cyst at site of insertion or origin": 0, '
        '"ACL Repair": 0}}}',
        fails={"signal": WRONG},
        box=BOX_MISSING,
    ),
    # ------------------------------------------------------------------ periarticular (63-69)
    Case(
        "pes anserine absent",
        63,
        '{"MOAKS_scores": {"pes_anserine_bursitis_presence": {"presence": 0}}}',
        {"presence": 0},
    ),
    Case(
        "popliteal cyst word present",
        65,
        '{"MOAKS_scores": {"popliteal_cyst_presence": {"presence": "present"}}}',
        {"presence": 1},
    ),
    Case(
        "loose bodies bare value",
        69,
        '{"MOAKS_scores": {"loose_bodies_presence": 1}}',
        {"presence": 1},
    ),
    Case(
        "prepatellar key with hyphens, value a digit string",
        67,
        '{"MOAKS_scores": {"Prepatellar-Bursitis-Presence": {"presence": "1"}}}',
        {"presence": 1},
    ),
    Case(
        "ganglion answered as infrapatellar bursitis",
        68,
        '{"MOAKS_scores": {"infrapatellar_bursitis_presence": {"presence": 1}}}',
        fails={"presence": WRONG},
    ),
    Case("empty reply", 66, "", fails={"presence": NO_OBJ}),
    Case("braces without an object", 64, "{{{{ :: }}} }", fails={"presence": NO_OBJ}),
    Case(
        "an object without the question",
        64,
        '{"answer": "see above", "confidence": 0.4}',
        fails={"presence": MISSING},
    ),
    Case(
        "iliotibial band: several objects, last one about the question wins",
        64,
        '{"MOAKS_scores": {"iliotibial_band_signal_presence": {"presence": 1}}}\n'
        'Correction: {"MOAKS_scores": {"iliotibial_band_signal_presence": {"presence": 0}}}',
        {"presence": 0},
    ),
    Case(
        "infrapatellar bursitis maybe",
        66,
        '{"MOAKS_scores": {"infrapatellar_bursitis_presence": {"presence": "maybe"}}}',
        fails={"presence": NAN},
    ),
]


def _key(qid: int, short: str) -> str:
    for a in ms.question(qid).attributes:
        if a.key.rsplit(".", 1)[1] == short:
            return a.key
    raise AssertionError(f"question {qid} has no attribute {short!r}")


def test_corpus_is_large_and_covers_every_family_and_failure() -> None:
    assert len(CORPUS) >= 60
    families = {ms.question(c.qid).feature for c in CORPUS}
    assert families == set(ms.Feature)
    seen = {f for c in CORPUS for f in c.fails.values()} | {
        c.box for c in CORPUS if isinstance(c.box, FailureKind)
    }
    assert {NO_OBJ, WRONG, MISSING, NAN, F.AMBIGUOUS, RANGE, BOX_MISSING, BOX_BAD} <= seen


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_reading(case: Case) -> None:
    p = parse_answer(case.text, case.qid)
    assert p.grades == {_key(case.qid, k): v for k, v in case.grades.items()}
    assert p.failures == {_key(case.qid, k): v for k, v in case.fails.items()}
    q = ms.question(case.qid)
    if not q.box_regions:
        assert case.box is None and p.box is None and p.box_failure is None
    elif isinstance(case.box, FailureKind):
        assert p.box is None and p.box_failure is case.box
    else:
        assert p.box is not None and p.box.to_public() == case.box and p.box_failure is None
    assert p.repaired is case.repaired
    if case.think is not None:
        assert p.think == case.think
    if case.reasoning_has is not None:
        assert case.reasoning_has in p.reasoning
