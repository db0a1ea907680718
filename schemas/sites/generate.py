# ruff: noqa: E501  (the tables of items are one row a line, wider than code)
"""Generate the bundled sample sites sized like the seeds, and every site's boundaries.

Run ``python -m schemas.sites.generate`` (or ``make sites``) from the repository root.
It is deterministic: no randomness, no clock, so a second run rewrites nothing, and a
unit test checks that the checked-in files are what it writes.

It writes three sites in full (site.yaml, jurisdictions.yaml, units.yaml,
categories.yaml, senders.yaml, boundaries.geojson):

- ``pidu``: seed 004's district (郫都区, Chengdu): 589 grids, 555 general and 34
  dedicated (专属), and the fifteen duties that fifteen district departments sank into
  the grid, with 48 items (the seed counts the departments' 48 tasks);
- ``yichang``: seed 002's city (宜昌市) in flat mode: 112 communities, 1,110 grids, and
  the grid worker's six duties;
- ``maigaoqiao``: seed 001's street (迈皋桥街道, Nanjing) with three levels of grids:
  13 first-level (its 12 communities and a start-up park, modelled at the community
  tier), 255 second-level (grids) and 3,052 third-level (grids nested in them), and the
  "5S" services.

and ``boundaries.geojson`` for the hand-written ``zhuangshi`` (seed 000) from its own
jurisdictions.yaml, which it leaves alone.

What the seeds give is said in each file's header; everything else (names below the
levels the seeds name, how grids spread over communities, units, items, limits,
coordinates) is INVENTED and marked so. Boundaries are rectangles: each mapped
jurisdiction's rectangle is split into rows of its children's rectangles, so children
tile their parent exactly, around the place's real longitude and latitude.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
DIGITS = 7
"""Coordinates are rounded to 7 decimals (about a centimetre); a child's outer edges
are its parent's own numbers, so tiling is exact."""

Box = tuple[float, float, float, float]  # west, south, east, north


@dataclass
class Generated:
    """One site's files, as data."""

    places: list[dict[str, Any]] = field(default_factory=list)
    units: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    senders: list[dict[str, Any]] = field(default_factory=list)

    def place(self, id: str, name: str, tier: str, parent: str | None, **kw: Any) -> str:
        row: dict[str, Any] = {"id": id, "name": name, "tier": tier}
        if parent is not None:
            row["parent"] = parent
        row.update(kw)
        self.places.append(row)
        return id

    def unit(self, id: str, name: str, where: str, types: Sequence[str], default: bool) -> None:
        row: dict[str, Any] = {"id": id, "name": name, "jurisdiction": where}
        row["unit_types"] = list(types)
        if default:
            row["default"] = True
        self.units.append(row)


# --- writing ------------------------------------------------------------------------------


def _flow(row: dict[str, Any]) -> str:
    text = yaml.safe_dump(
        row, default_flow_style=True, allow_unicode=True, width=10_000, sort_keys=False
    )
    return "- " + text.strip()


def _yaml_list(header: str, rows: Iterable[dict[str, Any] | str]) -> str:
    lines = [header.rstrip()]
    for row in rows:
        lines.append(row if isinstance(row, str) else _flow(row))
    return "\n".join(lines) + "\n"


def _geojson(shapes: Iterable[tuple[str, Box]]) -> str:
    features = []
    for place, (w, s, e, n) in shapes:
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        feature = {
            "type": "Feature",
            "properties": {"id": place},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        features.append(json.dumps(feature, separators=(",", ":"), ensure_ascii=False))
    head = '{"type":"FeatureCollection","features":[\n'
    return head + ",\n".join(features) + "\n]}\n"


def _write(path: Path, content: str, written: list[Path]) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != content:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)


# --- boundaries ---------------------------------------------------------------------------


def _cuts(low: float, high: float, parts: int) -> list[float]:
    inner = [round(low + (high - low) * i / parts, DIGITS) for i in range(1, parts)]
    return [low, *inner, high]


def tile(box: Box, n: int) -> list[Box]:
    """``box`` split into ``n`` rectangles: rows from north to south, each row split
    west to east, the rows' counts differing by at most one, so nothing is left over."""
    w, s, e, north = box
    width = (e - w) * math.cos(math.radians((s + north) / 2))  # in latitude degrees
    rows = max(1, min(n, round(math.sqrt(n * (north - s) / width))))
    ys = _cuts(s, north, rows)[::-1]  # north first
    out: list[Box] = []
    for r in range(rows):
        count = n // rows + (1 if r < n % rows else 0)
        xs = _cuts(w, e, count)
        out.extend((xs[c], ys[r + 1], xs[c + 1], ys[r]) for c in range(count))
    return out


def boundaries(places: Sequence[dict[str, Any]], root: str, box: Box) -> list[tuple[str, Box]]:
    """Rectangles for ``root`` (given ``box``) and everything under it."""
    children: dict[str, list[str]] = {}
    for p in places:
        if p.get("parent"):
            children.setdefault(p["parent"], []).append(p["id"])
    out = [(root, box)]
    todo = [(root, box)]
    while todo:
        parent, where = todo.pop(0)
        kids = children.get(parent, [])
        for kid, kid_box in zip(kids, tile(where, len(kids)) if kids else [], strict=True):
            out.append((kid, kid_box))
            todo.append((kid, kid_box))
    return out


def _box(lon: float, lat: float, width: float, height: float) -> Box:
    """A box of ``width`` x ``height`` degrees whose south-west corner is (lon, lat)."""
    return (lon, lat, round(lon + width, DIGITS), round(lat + height, DIGITS))


# --- common parts ---------------------------------------------------------------------------

CHANNELS = [
    ("channel.hotline-12345", "12345政务服务热线", "hotline_12345"),
    ("channel.grid-app", "网格员APP", "grid_app"),
    ("channel.web", "网上受理", "web"),
    ("channel.open311", "Open311网关", "open311"),
    ("channel.mayor-mailbox", "市长信箱", "mayor_mailbox"),
    ("channel.window", "窗口受理", "window"),
]

SENDERS_HEADER = """\
# Who sends commands besides the units (every unit of units.yaml is one already): the
# verifiers (核查), supervisors (督办), approvers (the command room that decides the
# suspensions and extensions its units ask for) and the residents' channels;
# schemas/access.py says what each may send. Which command room verifies, supervises and
# approves where is INVENTED (the seed does not say). GENERATED by
# schemas/sites/generate.py: edit that, not this file.
"""

ROOMS = (
    ("verify", "verifier", "核查"),
    ("supervise", "supervisor", "督查"),
    ("approve", "approver", "审批"),
)
"""The command rooms' roles, each a sender of its own: check, supervise, approve."""


def _city_rooms(g: Generated, city: str, name: str) -> None:
    """The city's own command room checks and approves for the city's units (the 12345
    centre above all), as the district's does below: INVENTED, the seeds stop lower."""
    for role, zh, label in ROOMS:
        if role != "supervise":  # supervision (督办) of the city's own units: not modelled
            g.senders.append(
                {
                    "id": f"{city}.{role}",
                    "name": f"{name}({label})",
                    "role": zh,
                    "jurisdiction": city,
                }
            )


def _channels(g: Generated) -> None:
    for id, name, channel in CHANNELS:
        g.senders.append({"id": id, "name": name, "role": "channel", "channel": channel})


def _site_yaml(head: str, ident: str, name: str, mode: str, tiers: str) -> str:
    return f"""\
{head.rstrip()}
# GENERATED by schemas/sites/generate.py: edit that, not this file.
id: {ident}
name: {name}
timezone: Asia/Shanghai

routing:
  mode: {mode}
  entry_tier: street

deadlines:
  # business_hours_end is left unset: a day ends at 24:00 (Civil Code art. 203).
  warnings:       # assumption: at half and four fifths of each clock, and its last day
    shares: [0.5, 0.8]
    last_day: true
  reminder_every: {{hours: 24}}  # assumption: a lapse at the city is reminded daily
  tiers:
    # Working days; 0 = by the end of the same working day.
{tiers.rstrip()}
"""


INVENTED_TIERS = """\
    grid:      {accept: 0, resolve: 1, refer: 1}    # assumption
    community: {accept: 0, resolve: 3, refer: 1}    # assumption, as seed 000's stations
    street:    {accept: 0, resolve: 5, refer: 1}    # assumption, as seed 000's street
    district:  {accept: 0, resolve: 5, refer: 1}    # assumption
    city:      {accept: 0, resolve: 10, refer: 1}   # assumption
"""


def _category(code: str, name: str, name_zh: str, group: str, tier: str, unit_type: str) -> dict:
    return {
        "code": code,
        "name": name,
        "name_zh": name_zh,
        "group": group,
        "tier": tier,
        "unit_type": unit_type,
    }


def _spread(total: int, buckets: int) -> list[int]:
    """``total`` over ``buckets``, the first ones one more: deterministic, even."""
    return [total // buckets + (1 if i < total % buckets else 0) for i in range(buckets)]


# --- seed 004: 郫都区 (Pidu district, Chengdu) ---------------------------------------------

PIDU_STREETS = [  # 12 streets and towns; the names are the district's, the list INVENTED
    ("pt", "郫筒街道"),
    ("xp", "犀浦街道"),
    ("hg", "红光街道"),
    ("ad", "安德街道"),
    ("tj", "团结街道"),
    ("dy", "德源街道"),
    ("hz", "合作街道"),
    ("tc", "唐昌街道"),
    ("aj", "安靖街道"),
    ("ya", "友爱镇"),
    ("sdy", "三道堰镇"),
    ("gc", "古城街道"),
]
PIDU_COMMUNITIES = [8, 9, 7, 6, 6, 6, 7, 6, 6, 5, 5, 5]  # 76: INVENTED
PIDU_DEDICATED = ["学校", "医院", "产业园区", "农贸市场", "景区", "高校"]  # what they cover

# The fifteen duties (15项职责) as the category groups: (group code, 中文, the district
# department type that sank it into the grid, its department's name). The seed names 13:
# 社情民意搜集, 民生服务管理, 应急响应, 矛盾纠纷劝调, 社会治安防范, 流动人口和特殊人群服务
# 管理, 突发事件, 违法犯罪, 安全隐患报告, 政策法规宣传, and among the extended ones 环境保护,
# 公安"一标三实", 安全生产. The last two (消防安全, 市政设施) are INVENTED from the seed's
# patrols (三巡: 消防、治安、道路安全以及市政设施). Which department owns which duty is
# INVENTED: the seed says 15 departments sank 48 tasks, not which.
PIDU_DUTIES = [
    ("opinion", "社情民意搜集", "petition", "区信访局"),
    ("livelihood", "民生服务管理", "civil_affairs", "区民政局"),
    ("emergency_response", "应急响应", "emergency", "区应急管理局"),
    ("disputes", "矛盾纠纷劝调", "justice", "区司法局"),
    ("public_order", "社会治安防范", "public_security", "区公安分局"),
    ("special_groups", "流动人口和特殊人群服务管理", "health", "区卫生健康局"),
    ("incidents", "突发事件", "duty_office", "区政府办公室(总值班室)"),
    ("crime_leads", "违法犯罪", "procuratorate", "区人民检察院"),
    ("hazards", "安全隐患报告", "housing", "区住房和城乡建设局"),
    ("outreach", "政策法规宣传", "publicity", "区委宣传部"),
    ("environment", "环境保护", "ecology", "区生态环境局"),
    ("basic_data", '公安"一标三实"', "political_legal", "区委政法委(综治办)"),
    ("work_safety", "安全生产", "industry", "区经济科技和信息化局"),
    ("fire", "消防安全", "fire_rescue", "区消防救援大队"),
    ("municipal", "市政设施", "urban_management", "区综合行政执法局"),
]
# The 48 items (事项), each (duty, code, English, 中文, tier, unit type): INVENTED, one
# list of plausible grid matters across the ladder (grid worker, community station,
# street agencies, district departments, the city).
PIDU_ITEMS = [
    ("opinion", "resident_suggestion", "Resident's opinion", "居民意见建议", "grid", "grid_general"),
    ("opinion", "petition_lead", "Early sign of a petition", "信访矛盾苗头", "district", "petition"),
    ("opinion", "public_sentiment", "Public sentiment report", "社情民意专报", "district", "petition"),
    ("livelihood", "elderly_visit", "Visit to an elderly person", "独居老人走访", "grid", "grid_general"),
    ("livelihood", "subsistence", "Subsistence allowance", "低保申请协助", "street", "civil_affairs"),
    ("livelihood", "disability_aid", "Help for the disabled", "残疾人帮扶", "district", "civil_affairs"),
    ("emergency_response", "flood_watch", "Flood-season patrol", "汛期巡查", "grid", "grid_general"),
    ("emergency_response", "evacuation", "Evacuation from danger", "避险转移", "street", "emergency"),
    ("emergency_response", "disaster_report", "Disaster damage report", "灾情核报", "district", "emergency"),
    ("disputes", "neighbour", "Dispute between neighbours", "邻里纠纷", "grid", "grid_general"),
    ("disputes", "land", "Land contract dispute", "土地承包纠纷", "street", "justice"),
    ("disputes", "legal_aid", "Legal aid request", "法律援助需求", "district", "justice"),
    ("public_order", "patrol_hazard", "Public order hazard", "治安隐患", "grid", "grid_general"),
    ("public_order", "gambling", "Gambling", "聚众赌博", "street", "public_security"),
    ("public_order", "key_area", "Key area clean-up", "重点地区治安整治", "district", "public_security"),
    ("special_groups", "floating_change", "Floating population change", "流动人口变动", "grid", "grid_general"),
    ("special_groups", "rental_housing", "Rental housing registration", "出租房屋登记", "community", "community_general"),
    ("special_groups", "drug_rehab", "Person in drug rehabilitation", "社区戒毒康复人员", "street", "public_security"),
    ("special_groups", "mental_health", "Follow-up of a severe mental illness", "严重精神障碍患者随访", "district", "health"),
    ("incidents", "first_report", "First report of an incident", "突发事件首报", "grid", "grid_general"),
    ("incidents", "mass_gathering", "Crowd gathering", "群体性聚集", "street", "command_room"),
    ("incidents", "major_incident", "Serious incident", "较大突发事件", "district", "duty_office"),
    ("incidents", "major_disaster", "Major emergency", "重大突发事件", "city", "emergency"),
    ("crime_leads", "fugitive", "Lead on a fugitive", "在逃人员线索", "district", "public_security"),
    ("crime_leads", "cult", "Cult gathering place", "邪教聚集场所", "district", "public_security"),
    ("crime_leads", "public_interest", "Public-interest litigation lead", "公益诉讼线索", "district", "procuratorate"),
    ("hazards", "dangerous_house", "Dangerous house", "危房隐患", "district", "housing"),
    ("hazards", "construction_site", "Construction site hazard", "建筑工地安全隐患", "district", "housing"),
    ("hazards", "road_safety", "Road traffic hazard", "道路交通安全隐患", "street", "public_security"),
    ("outreach", "policy_leaflet", "Policy material needed", "政策宣传资料需求", "grid", "grid_general"),
    ("outreach", "legal_publicity", "Legal publicity", "普法宣传", "community", "community_general"),
    ("outreach", "rumour", "False information spreading", "不实信息传播", "district", "publicity"),
    ("environment", "water_pollution", "Water pollution", "水体污染", "district", "ecology"),
    ("environment", "air_pollution", "Air pollution", "大气污染", "district", "ecology"),
    ("environment", "straw_burning", "Straw burning", "秸秆焚烧", "street", "urban_management"),
    ("environment", "noise", "Noise nuisance", "噪声扰民", "street", "urban_management"),
    ("basic_data", "standard_address", "Standard address", "标准地址采集", "grid", "grid_general"),
    ("basic_data", "actual_population", "Actual population", "实有人口采集", "grid", "grid_general"),
    ("basic_data", "actual_housing", "Actual housing", "实有房屋核查", "community", "community_general"),
    ("basic_data", "actual_units", "Actual organisations", "实有单位核查", "district", "political_legal"),
    ("work_safety", "small_workshop", "Small workshop hazard", "小作坊安全隐患", "street", "emergency"),
    ("work_safety", "enterprise", "Enterprise work safety", "企业安全生产隐患", "district", "industry"),
    ("work_safety", "hazardous_chemicals", "Hazardous chemicals", "危险化学品", "district", "emergency"),
    ("fire", "blocked_exit", "Fire lane blocked", "消防通道堵塞", "grid", "grid_general"),
    ("fire", "ebike_charging", "E-bike charged indoors", "电动车违规充电", "community", "community_general"),
    ("fire", "hazard", "Fire hazard", "火灾隐患", "district", "fire_rescue"),
    ("municipal", "manhole", "Missing manhole cover", "井盖缺失", "street", "urban_management"),
    ("municipal", "road_damage", "Damaged road", "道路破损", "district", "urban_management"),
]  # fmt: skip
PIDU_STREET_AGENCIES = [  # 驻街道机构及内设机构 (seed 004 names the kind): INVENTED set
    ("police", "派出所", ["public_security"]),
    ("justice", "司法所", ["justice"]),
    ("enforcement", "综合行政执法中队", ["urban_management"]),
    ("safety", "应急管理办公室", ["emergency"]),
    ("social", "社区发展治理和社会保障办公室", ["civil_affairs"]),
]


def pidu() -> tuple[Generated, str, Box]:
    g = Generated()
    g.place("cd", "成都市", "city", None)
    district = g.place("cd-pd", "郫都区", "district", "cd")
    g.unit("cd.12345", "成都市网络理政中心(12345)", "cd", ["city_general"], True)
    g.unit("cd.emergency", "成都市应急管理局", "cd", ["emergency"], False)
    g.unit(
        "cd-pd.command",
        "郫都区网格化服务管理中心(大联动指挥中心)",
        district,
        ["district_command"],
        True,
    )
    for _, _, unit_type, name in PIDU_DUTIES:
        g.unit(
            f"cd-pd.{unit_type.replace('_', '-')}",
            f"郫都区{name[1:]}",
            district,
            [unit_type],
            False,
        )
    dedicated_left = 34
    community_no = 0
    for (code, name), count in zip(PIDU_STREETS, PIDU_COMMUNITIES, strict=True):
        street = g.place(f"pd-{code}", name, "street", district)
        g.unit(f"{street}.command", f"{name}大联动指挥分中心", street, ["command_room"], True)
        for role, agency, types in PIDU_STREET_AGENCIES:
            g.unit(f"{street}.{role}", f"{name}{agency}", street, types, False)
        for c in range(1, count + 1):
            community = g.place(f"{street}-c{c:02d}", f"{name}第{c}社区", "community", street)
            g.unit(
                f"{community}.station",
                f"{name}第{c}社区网格化服务管理工作站",
                community,
                ["community_general"],
                True,
            )
            grids = 8 if community_no < 23 else 7  # 23 x 8 + 53 x 7 = 555 general grids
            for n in range(1, grids + 1):
                grid = g.place(
                    f"{community}-g{n:02d}", f"{name}第{c}社区第{n}网格", "grid", community
                )
                g.places[-1]["kind"] = "general"
                g.unit(
                    f"{grid}.worker",
                    f"{name}第{c}社区第{n}网格专职网格员",
                    grid,
                    ["grid_general"],
                    True,
                )
            if community_no % 2 == 0 and dedicated_left:  # every other community: 34
                covers = PIDU_DEDICATED[dedicated_left % len(PIDU_DEDICATED)]
                grid = g.place(
                    f"{community}-z01", f"{name}第{c}社区专属网格({covers})", "grid", community
                )
                g.places[-1]["kind"] = "dedicated"
                g.unit(
                    f"{grid}.worker",
                    f"{name}第{c}社区专属网格专职网格员",
                    grid,
                    ["grid_general"],
                    True,
                )
                dedicated_left -= 1
            community_no += 1
    assert dedicated_left == 0 and community_no == 76
    groups = {code: zh for code, zh, _, _ in PIDU_DUTIES}
    for duty, code, en, zh, tier, unit_type in PIDU_ITEMS:
        g.categories.append(_category(f"{duty}.{code}", en, zh, groups[duty], tier, unit_type))
    for code, name in PIDU_STREETS:
        street = f"pd-{code}"
        g.senders.append(
            {
                "id": f"{street}.verify",
                "name": f"{name}大联动指挥分中心(核查)",
                "role": "verifier",
                "jurisdiction": street,
            }
        )
    for role, zh, label in ROOMS:
        g.senders.append(
            {
                "id": f"cd-pd.{role}",
                "name": f"郫都区大联动指挥中心({label})",
                "role": zh,
                "jurisdiction": district,
            }
        )
    _city_rooms(g, "cd", "成都市网络理政中心")
    _channels(g)
    return g, district, _box(103.78, 30.72, 0.24, 0.23)  # about 23 x 25 km around Pidu


# --- seed 002: 宜昌市 (Yichang city), flat -------------------------------------------------

YICHANG = [  # districts and their streets: real names, the list and spread INVENTED
    ("xl", "西陵区", [("xl", "西陵街道", 10), ("xy", "学院街道", 9), ("yj", "云集街道", 9),
                     ("xb", "西坝街道", 8), ("gzb", "葛洲坝街道", 9), ("ymz", "夜明珠街道", 8),
                     ("yw", "窑湾街道", 8)]),
    ("wjg", "伍家岗区", [("dgq", "大公桥街道", 10), ("wsq", "万寿桥街道", 9),
                       ("bth", "宝塔河街道", 9), ("wj", "伍家街道", 9)]),
    ("dj", "点军区", [("dj", "点军街道", 7)]),
    ("xt", "猇亭区", [("glb", "古老背街道", 7)]),
]  # fmt: skip
# The grid worker's six duties (6项基本职责, seed 002) as the groups; items INVENTED.
YICHANG_ITEMS = [
    ("信息采集", "info.population_change", "Population record change", "人口信息变动", "grid", "grid_general"),
    ("信息采集", "info.housing", "Housing record", "房屋信息采集", "grid", "grid_general"),
    ("信息采集", "info.organisation", "Organisation record change", "单位信息变动", "community", "community_general"),
    ("综合治理", "governance.neighbour_dispute", "Dispute between neighbours", "邻里纠纷", "community", "community_stability"),
    ("综合治理", "governance.petition", "Letter or visit", "来信来访", "street", "petition"),
    ("综合治理", "governance.collective_dispute", "Collective dispute", "群体性矛盾纠纷", "street", "dispute_mediation"),
    ("综合治理", "governance.public_order", "Public order hazard", "治安隐患", "district", "public_security"),
    ("综合治理", "governance.major_security", "Major public security event", "重大治安事件", "city", "public_security"),
    ("民政服务", "civil.empty_nest", "Elderly living alone", "空巢老人关爱", "community", "community_service"),
    ("民政服务", "civil.subsistence", "Subsistence allowance", "低保救助", "street", "civil_affairs"),
    ("民政服务", "civil.disability", "Services for the disabled", "残疾人服务", "district", "civil_affairs"),
    ("民政服务", "civil.care_home", "Care home", "养老机构", "city", "civil_affairs"),
    ("劳动保障", "labour.job_help", "Help finding work", "就业困难帮扶", "community", "community_service"),
    ("劳动保障", "labour.social_insurance", "Social insurance", "社保办理", "street", "labour"),
    ("劳动保障", "labour.wage_arrears", "Unpaid wages", "拖欠工资", "district", "labour"),
    ("劳动保障", "labour.pension", "Pension benefits", "养老保险待遇", "city", "labour"),
    ("计生服务", "family.birth_registration", "Birth registration", "生育登记", "community", "community_service"),
    ("计生服务", "family.special_family", "Aid to bereaved one-child families", "计生特殊家庭扶助", "street", "family_planning"),
    ("计生服务", "family.policy", "Family planning policy", "计生政策咨询", "district", "family_planning"),
    ("城市管理", "city.litter", "Littering", "乱扔垃圾劝导", "grid", "grid_general"),
    ("城市管理", "city.garbage", "Garbage not collected", "垃圾清运不及时", "street", "city_management"),
    ("城市管理", "city.street_vendor", "Street vending", "占道经营", "street", "city_management"),
    ("城市管理", "city.illegal_construction", "Illegal construction", "违法建设", "district", "city_management"),
    ("城市管理", "city.water_supply", "Water supply failure", "供水故障", "city", "water_supply"),
    ("城市管理", "city.road", "Damaged city road", "市政道路破损", "city", "city_management"),
]  # fmt: skip
YICHANG_DISTRICT_UNITS = [  # 区直部门: INVENTED set
    ("civil", "民政局", ["civil_affairs"]),
    ("hrss", "人力资源和社会保障局", ["labour"]),
    ("health", "卫生健康局", ["family_planning"]),
    ("enforcement", "城市管理执法局", ["city_management"]),
    ("police", "公安分局", ["public_security"]),
]
YICHANG_CITY_UNITS = [  # 市直部门: INVENTED set
    ("civil", "宜昌市民政局", ["civil_affairs"]),
    ("hrss", "宜昌市人力资源和社会保障局", ["labour"]),
    ("urban", "宜昌市城市管理委员会", ["city_management"]),
    ("police", "宜昌市公安局", ["public_security"]),
    ("water", "宜昌市水务集团", ["water_supply"]),
]


def yichang() -> tuple[Generated, str, Box]:
    g = Generated()
    city = g.place("yc", "宜昌市", "city", None)
    g.unit("yc.12345", "宜昌市12345政务服务热线", city, ["city_general"], True)
    for role, name, types in YICHANG_CITY_UNITS:
        g.unit(f"yc.{role}", name, city, types, False)
    community_no = 0
    for dcode, dname, streets in YICHANG:
        district = g.place(f"yc-{dcode}", dname, "district", city)
        g.unit(
            f"{district}.command", f"{dname}社会服务管理中心", district, ["district_general"], True
        )
        for role, name, types in YICHANG_DISTRICT_UNITS:
            g.unit(f"{district}.{role}", f"{dname}{name}", district, types, False)
        for scode, sname, communities in streets:
            street = g.place(f"{district}-{scode}", sname, "street", district)
            # the street's three centres (三个中心, seed 002)
            g.unit(
                f"{street}.grid",
                f"{sname}网格管理中心",
                street,
                ["street_general", "city_management"],
                True,
            )
            g.unit(
                f"{street}.service",
                f"{sname}便民服务中心",
                street,
                ["civil_affairs", "labour", "family_planning"],
                False,
            )
            g.unit(
                f"{street}.stability",
                f"{sname}综治信访维稳中心",
                street,
                ["petition", "dispute_mediation"],
                False,
            )
            for c in range(1, communities + 1):
                community = g.place(f"{street}-c{c:02d}", f"{sname}第{c}社区", "community", street)
                # the community's three stations (三个站, seed 002)
                g.unit(
                    f"{community}.grid",
                    f"{sname}第{c}社区网格管理站",
                    community,
                    ["community_general"],
                    True,
                )
                g.unit(
                    f"{community}.service",
                    f"{sname}第{c}社区便民服务站",
                    community,
                    ["community_service"],
                    False,
                )
                g.unit(
                    f"{community}.stability",
                    f"{sname}第{c}社区综治信访维稳站",
                    community,
                    ["community_stability"],
                    False,
                )
                grids = 10 if community_no < 102 else 9  # 102 x 10 + 10 x 9 = 1,110
                for n in range(1, grids + 1):
                    grid = g.place(
                        f"{community}-g{n:02d}", f"{sname}第{c}社区第{n}网格", "grid", community
                    )
                    g.unit(
                        f"{grid}.manager",
                        f"{sname}第{c}社区第{n}网格网格管理员",
                        grid,
                        ["grid_general"],
                        True,
                    )
                community_no += 1
        g.senders.append(
            {
                "id": f"{district}.verify",
                "name": f"{dname}核查",
                "role": "verifier",
                "jurisdiction": district,
            }
        )
    assert community_no == 112
    g.senders.append(
        {"id": "yc.verify", "name": "宜昌市12345回访核查", "role": "verifier", "jurisdiction": city}
    )
    g.senders.append(
        {"id": "yc.supervise", "name": "宜昌市督查", "role": "supervisor", "jurisdiction": city}
    )
    g.senders.append(
        {"id": "yc.approve", "name": "宜昌市12345审批", "role": "approver", "jurisdiction": city}
    )
    for group, code, en, zh, tier, unit_type in YICHANG_ITEMS:
        g.categories.append(_category(code, en, zh, group, tier, unit_type))
    _channels(g)
    return g, city, _box(111.22, 30.62, 0.22, 0.16)  # the urban districts of Yichang


# --- seed 001: 迈皋桥街道 (Maigaoqiao street, Nanjing), three levels of grids ---------------

MGQ_SECOND = [22, 21, 20, 20, 19, 18, 21, 20, 19, 22, 20, 18, 15]  # 255: INVENTED spread
MGQ_ITEMS = [  # the "5S" services (seed 001) as the groups; items INVENTED
    ("市容环境", "appearance.corridor_clutter", "Clutter in a stairwell", "楼道杂物堆放", "grid", "grid_general"),
    ("市容环境", "appearance.garbage", "Garbage not collected", "垃圾清运不及时", "street", "city_appearance"),
    ("市容环境", "appearance.flyposting", "Fly-posting", "乱张贴小广告", "street", "city_appearance"),
    ("市容环境", "appearance.illegal_construction", "Illegal construction", "违章搭建", "district", "city_appearance"),
    ("流动人口", "floating.registration", "Floating population registration", "流动人口登记", "grid", "grid_general"),
    ("流动人口", "floating.rental", "Rental housing", "出租屋管理", "street", "floating_population"),
    ("流动人口", "floating.residence_permit", "Residence permit", "居住证办理", "district", "public_security"),
    ("便民为民", "convenience.help", "Resident asks for help", "居民求助", "grid", "grid_general"),
    ("便民为民", "convenience.home_care", "Home care for the elderly", "居家养老服务", "community", "community_general"),
    ("便民为民", "convenience.repair", "Public facility repair", "公共设施报修", "street", "convenience"),
    ("便民为民", "convenience.water_outage", "Water outage", "停水", "city", "water_supply"),
    ("平安和谐", "safety.neighbour_dispute", "Dispute between neighbours", "邻里纠纷", "community", "community_general"),
    ("平安和谐", "safety.public_order", "Public order hazard", "治安隐患", "street", "safety_harmony"),
    ("平安和谐", "safety.fire_hazard", "Fire hazard", "消防隐患", "street", "safety_harmony"),
    ("平安和谐", "safety.crime_lead", "Lead on a crime", "违法犯罪线索", "district", "public_security"),
    ("商业网点", "commerce.shop_noise", "Noise from a shop", "商铺噪音扰民", "grid", "grid_general"),
    ("商业网点", "commerce.street_vending", "Street vending", "占道经营", "street", "commercial_outlets"),
    ("商业网点", "commerce.small_trades", "Small trades (五小行业)", "五小行业管理", "street", "commercial_outlets"),
    ("商业网点", "commerce.food_safety", "Food safety", "食品安全", "district", "market_supervision"),
    ("商业网点", "commerce.unlicensed", "Unlicensed business", "无证经营", "district", "market_supervision"),
]  # fmt: skip
MGQ_STREET_UNITS = [  # one street office per "S": INVENTED
    ("cityscape", "城市管理科(市容环境)", ["city_appearance"]),
    ("floating", "流动人口服务管理站", ["floating_population"]),
    ("service", "社会事务科(便民为民)", ["convenience"]),
    ("safety", "综治办(平安和谐)", ["safety_harmony"]),
    ("commerce", "经济服务科(商业网点)", ["commercial_outlets"]),
]


def maigaoqiao() -> tuple[Generated, str, Box]:
    g = Generated()
    g.place("nj", "南京市", "city", None)
    g.place("nj-qx", "栖霞区", "district", "nj")
    street = g.place("mgq", "迈皋桥街道", "street", "nj-qx")
    g.unit("nj.12345", "南京市12345政务服务热线", "nj", ["city_general"], True)
    g.unit("nj.water", "南京水务集团", "nj", ["water_supply"], False)
    g.unit("nj-qx.command", "栖霞区网格化社会服务管理中心", "nj-qx", ["district_command"], True)
    g.unit("nj-qx.enforcement", "栖霞区城市管理局", "nj-qx", ["city_appearance"], False)
    g.unit("nj-qx.police", "栖霞区公安分局", "nj-qx", ["public_security"], False)
    g.unit("nj-qx.market", "栖霞区市场监督管理局", "nj-qx", ["market_supervision"], False)
    # seed 001: the street's 社会服务网格管理中心 takes the 12345 and mayor's-mailbox cases
    g.unit(f"{street}.center", "迈皋桥街道社会服务网格管理中心", street, ["command_room"], True)
    for role, name, types in MGQ_STREET_UNITS:
        g.unit(f"{street}.{role}", f"迈皋桥街道{name}", street, types, False)
    second_no = 0
    for c, seconds in enumerate(MGQ_SECOND, start=1):
        # first-level grids (一级网格): the 12 communities and the start-up park, at the
        # community tier; their names are INVENTED
        park = c == len(MGQ_SECOND)
        cid = f"{street}-park" if park else f"{street}-c{c:02d}"
        cname = "迈皋桥创业园(一级网格)" if park else f"迈皋桥第{c}社区(一级网格)"
        g.place(cid, cname, "community", street)
        g.unit(f"{cid}.leader", f"{cname}责任人", cid, ["community_general"], True)
        for s in range(1, seconds + 1):
            # second-level grids (二级网格): a grid leader (格长) each, the seed's 111
            # street cadres and 144 community workers
            sid = g.place(f"{cid}-g{s:02d}", f"{cname[:-6]}第{s}二级网格", "grid", cid)
            g.unit(f"{sid}.leader", f"{cname[:-6]}第{s}二级网格格长", sid, ["grid_general"], True)
            thirds = 11 if second_no % 32 == 0 else 12  # 8 x 11 + 247 x 12 = 3,052
            for t in range(1, thirds + 1):
                # third-level grids (三级网格): a building, a resident organisation or a
                # shop; places only, worked by the second-level grid around them
                g.place(f"{sid}-{t:02d}", f"{cname[:-6]}第{s}二级网格第{t}三级网格", "grid", sid)
            second_no += 1
    for role, zh, label in ROOMS:
        g.senders.append(
            {
                "id": f"{street}.{role}",
                "name": f"迈皋桥街道网格管理中心({label})",
                "role": zh,
                "jurisdiction": street,
            }
        )
        g.senders.append(
            {
                "id": f"nj-qx.{role}",
                "name": f"栖霞区网格化社会服务管理中心({label})",
                "role": zh,
                "jurisdiction": "nj-qx",
            }
        )
    for group, code, en, zh, tier, unit_type in MGQ_ITEMS:
        g.categories.append(_category(code, en, zh, group, tier, unit_type))
    _city_rooms(g, "nj", "南京市12345政务服务热线")
    _channels(g)
    # 12.46 km2 (seed 001): 0.04 x 0.03 degrees at 32 N is about 3.8 x 3.3 km
    return g, street, _box(118.79, 32.10, 0.04, 0.03)


# --- the sites' headers ---------------------------------------------------------------------

HEADS = {
    "pidu": (
        "# 郫都区 (Pidu district, Chengdu), modelled on seed 004: one grid network (1张网) of\n"
        "# 589 grids, 555 general (一般网格) and 34 dedicated (专属网格), each with a full-time\n"
        "# grid worker (专职网格员), and fifteen duties (15项职责) that 15 district departments\n"
        "# sank into the grid. The seed's ladder: grid -> community station (工作站) -> street\n"
        '# "大联动" sub-centre and its agencies -> district "大联动" centre and departments ->\n'
        "# the department above. Street, community and grid names, and every limit, are\n"
        "# INVENTED (assumption).",
        "郫都区 (Pidu district, Chengdu)",
        "stepwise",
    ),
    "yichang": (
        "# 宜昌市 (Yichang city), modelled on seed 002: five levels (市、区、街道、社区、网格),\n"
        "# 112 communities divided into 1,110 grids of 200-300 households, one grid manager\n"
        "# each (一格一员), with the grid worker's six duties. What a community cannot solve\n"
        '# goes straight to the responsible street, district or city department ("扁平操作"):\n'
        "# flat routing. Districts and streets carry real names; which streets, how the\n"
        "# communities and grids spread over them, the departments and every limit are\n"
        "# INVENTED (assumption).",
        "宜昌市 (Yichang city, flat)",
        "flat",
    ),
    "maigaoqiao": (
        "# 迈皋桥街道 (Maigaoqiao street, Qixia district, Nanjing), modelled on seed 001: 12.46\n"
        "# km2 in three levels of grids: 13 first-level (its 12 communities and a start-up\n"
        "# park), 255 second-level with a grid leader (格长) each, and 3,052 third-level\n"
        '# (buildings, resident organisations, shops), and the "5S" services. First-level\n'
        "# grids are modelled at the community tier, second-level ones at the grid tier,\n"
        "# third-level ones as grids nested in them, worked by their second-level grid.\n"
        "# Community names, units, items and every limit are INVENTED (assumption).",
        "迈皋桥街道 (Maigaoqiao street, Qixia district, Nanjing)",
        "stepwise",
    ),
}

FILE_HEADS = {
    "jurisdictions": "# Jurisdictions, top down. GENERATED by schemas/sites/generate.py (see site.yaml for\n"
    "# what the seed gives and what is INVENTED): edit that, not this file.",
    "units": "# Units cases are assigned to: one default unit per jurisdiction (nested grids\n"
    "# excepted, which their grid above works), typed units for the categories' unit types.\n"
    "# Department names are illustrative, not the real organisation chart (INVENTED).\n"
    "# GENERATED by schemas/sites/generate.py: edit that, not this file.",
    "categories": "# Categories: groups from the seed (see site.yaml); items, tiers and owning unit\n"
    "# types INVENTED. GENERATED by schemas/sites/generate.py: edit that, not this file.",
}

SITES = {"pidu": pidu, "yichang": yichang, "maigaoqiao": maigaoqiao}
ZHUANGSHI_BOX = _box(121.60, 29.93, 0.07, 0.06)  # 庄市街道, Zhenhai: about 6.8 x 6.7 km


def render() -> dict[Path, str]:
    """Every generated file, by path."""
    files: dict[Path, str] = {}
    for name, make in SITES.items():
        g, root, box = make()
        head, title, mode = HEADS[name]
        out = HERE / name
        files[out / "site.yaml"] = _site_yaml(head, name, title, mode, INVENTED_TIERS)
        files[out / "jurisdictions.yaml"] = _yaml_list(FILE_HEADS["jurisdictions"], g.places)
        files[out / "units.yaml"] = _yaml_list(FILE_HEADS["units"], g.units)
        files[out / "categories.yaml"] = _yaml_list(FILE_HEADS["categories"], g.categories)
        files[out / "senders.yaml"] = _yaml_list(SENDERS_HEADER, g.senders)
        files[out / "boundaries.geojson"] = _geojson(boundaries(g.places, root, box))
    zhuangshi = yaml.safe_load((HERE / "zhuangshi" / "jurisdictions.yaml").read_text("utf-8"))
    files[HERE / "zhuangshi" / "boundaries.geojson"] = _geojson(
        boundaries(zhuangshi, "zs", ZHUANGSHI_BOX)
    )
    return files


def main() -> None:
    written: list[Path] = []
    for path, content in render().items():
        _write(path, content, written)
    for path in written:
        print(f"wrote {path}", file=sys.stdout)


if __name__ == "__main__":
    main()
