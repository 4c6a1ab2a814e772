"""The message catalogue: every user-facing label of the map pages and the CLI summary,
in English and Chinese, in one place.

Each key maps to ``{"en": ..., "zh": ...}``; :func:`t` picks a language and falls back
to English (logged once per key) where a key or its translation is missing. Keys are
grouped by prefix:

- ``layer.<layer key>``: overlay titles in the layer control and legend;
- ``field.<column>``: popup row labels;
- ``kpi.<name>`` / ``kpi.<section>.<name>``: KPI labels (their units are in
  :data:`siting.maps.page.KPI_UNITS`); ``kpi_group.<group>``: KPI panel headings;
- ``ui.<name>``: the page's own text (panels, buttons, notes), sent to
  ``siting/assets/map.js`` as ``spec.text``;
- ``cli.<name>``: the CLI's summary (targets table).

Only labels are translated: layer ids, column names and data values never change.

>>> t("layer.charging_stations", "zh")
'充电站'
>>> t("layer.charging_stations", "en")
'Charging stations'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

logger = logging.getLogger(__name__)

__all__ = [
    "LANGS",
    "MESSAGES",
    "Lang",
    "check_lang",
    "default_lang",
    "has",
    "html_lang",
    "is_zibo",
    "kpi_text",
    "labels",
    "t",
    "texts",
]

Lang = Literal["en", "zh"]
#: supported languages; ``en`` is the fallback
LANGS: tuple[str, ...] = ("en", "zh")

MESSAGES: dict[str, dict[str, str]] = {
    # ---------------------------------------------------------------- layer titles
    # ---------------------------------------------------------------- review, diff pages
    "review.title": {"en": "Compliance review", "zh": "合规审查"},
    "review.findings": {"en": "Findings", "zh": "审查发现"},
    "review.violations": {"en": "violations", "zh": "项违规"},
    "review.conditions": {"en": "conditions", "zh": "项附条件"},
    "review.pass": {"en": "PASS", "zh": "通过"},
    "review.fail": {"en": "FAIL", "zh": "未通过"},
    "review.empty": {"en": "no findings: every check passed", "zh": "无问题：全部审查通过"},
    "diff.title": {"en": "Plan comparison", "zh": "方案对比"},
    "diff.items": {"en": "Item changes", "zh": "项目变化"},
    "diff.empty": {"en": "the two plans have the same items", "zh": "两个方案的项目相同"},
    "layer.charging_stations": {"en": "Charging stations", "zh": "充电站"},
    "layer.charging_demand": {"en": "Charging demand served", "zh": "已服务充电需求"},
    "layer.coverage": {"en": "Coverage", "zh": "服务覆盖范围"},
    "layer.logistics_parks": {"en": "Logistics parks", "zh": "物流园区"},
    "layer.logistics_catchments": {"en": "Park catchments", "zh": "园区服务范围"},
    "layer.logistics_sources": {"en": "Freight sources", "zh": "货源"},
    "layer.logistics_candidates": {"en": "Logistics candidates", "zh": "物流园区候选址"},
    "layer.rail_access": {"en": "Rail access (nearest station)", "zh": "铁路接入（最近车站）"},
    "layer.heat_pipes": {"en": "Heat pipes", "zh": "供热管道"},
    "layer.heat_sources": {"en": "Heat sources", "zh": "热源"},
    "layer.heat_sinks": {"en": "Heat sinks", "zh": "热用户"},
    "layer.heat_zones": {"en": "Heat zones", "zh": "供热片区"},
    "layer.red_line": {"en": "Ecological red line", "zh": "生态保护红线"},
    "layer.farmland": {"en": "Permanent basic farmland", "zh": "永久基本农田"},
    "layer.water": {"en": "Water bodies", "zh": "水体"},
    "layer.industrial_zones": {"en": "Industrial zones", "zh": "工业区"},
    "layer.land_use": {"en": "Land use", "zh": "土地利用"},
    "layer.districts": {"en": "District boundaries", "zh": "行政区"},
    "layer.substations": {"en": "Substations", "zh": "变电站"},
    "layer.rail_stations": {"en": "Railway stations", "zh": "火车站"},
    "layer.pois": {"en": "Candidate sites", "zh": "候选站址"},
    "layer.demand_ev_sessions_day": {"en": "EV charging demand (heat map)",
                                     "zh": "电动汽车充电需求（热力图）"},
    "layer.demand_heat_peak_mw": {"en": "Heat demand (heat map)", "zh": "热负荷需求（热力图）"},
    "layer.demand_population": {"en": "Population (heat map)", "zh": "人口（热力图）"},
    # ---------------------------------------------------------------- popup fields
    "field.piles": {"en": "Piles", "zh": "充电桩"},
    "field.piles_fast": {"en": "Fast piles", "zh": "快充桩"},
    "field.piles_slow": {"en": "Slow piles", "zh": "慢充桩"},
    "field.kw": {"en": "Power", "zh": "功率"},
    "field.nev_served": {"en": "NEVs served", "zh": "服务新能源汽车"},
    "field.sessions_day": {"en": "Sessions / day", "zh": "日充电次数"},
    "field.sessions": {"en": "Sessions / day", "zh": "日充电次数"},
    "field.utilisation": {"en": "Utilisation", "zh": "利用率"},
    "field.wait_minutes": {"en": "Expected wait", "zh": "预计等待时间"},
    "field.wait_min": {"en": "Expected wait", "zh": "预计等待时间"},
    "field.peak_wait_min": {"en": "Expected wait, busiest hour", "zh": "高峰小时预计等待时间"},
    "field.peak_utilisation": {"en": "Utilisation, busiest hour", "zh": "高峰小时利用率"},
    "field.stage": {"en": "Stage", "zh": "建设阶段"},
    "field.district": {"en": "District", "zh": "行政区"},
    "field.site_type": {"en": "Site type", "zh": "站址类型"},
    "field.substation": {"en": "Substation", "zh": "变电站"},
    "field.name_zh": {"en": "Chinese name", "zh": "中文名称"},
    "field.population": {"en": "Population (2020)", "zh": "人口（2020年）"},
    # ---------------------------------------------------------------- KPI groups
    "kpi_group.chargers": {"en": "Charging piles", "zh": "充电桩"},
    "kpi_group.logistics": {"en": "Logistics parks", "zh": "物流园区"},
    "kpi_group.heat": {"en": "Heat networks", "zh": "供热管网"},
    "kpi_group.review": {"en": "Review", "zh": "审查"},
    "kpi_group.rules": {"en": "Review rules", "zh": "审查规则"},
    "kpi_group.fleet": {"en": "Bus and taxi fleets", "zh": "公交与出租车队"},
    "kpi_group.joint": {"en": "Joint plan: one grid, one land", "zh": "联合规划：共用电网与用地"},
    # ---------------------------------------------------------------- page text
    "ui.targets": {"en": "Targets of the plan", "zh": "规划目标"},
    "ui.met": {"en": "met", "zh": "达标"},
    "ui.not_met": {"en": "not met", "zh": "未达标"},
    "ui.assumed": {"en": "assumed", "zh": "假设"},
    "ui.assumed_suffix": {"en": " (assumed)", "zh": "（假设）"},
    "ui.key_figures": {"en": "Key figures", "zh": "主要指标"},
    "ui.legend": {"en": "Legend", "zh": "图例"},
    "ui.approve": {"en": "Approve", "zh": "同意"},
    "ui.reject": {"en": "Reject", "zh": "驳回"},
    "ui.clear": {"en": "Clear", "zh": "清除"},
    "ui.approved": {"en": "approved", "zh": "同意"},
    "ui.rejected": {"en": "rejected", "zh": "驳回"},
    "ui.decision": {"en": "Decision: ", "zh": "审查意见："},
    "ui.no_decision": {"en": "No decision yet", "zh": "尚无意见"},
    "ui.comment": {"en": "comment (optional)", "zh": "备注（可选）"},
    "ui.review_decisions": {"en": "Review decisions", "zh": "审查意见"},
    "ui.reviewer": {"en": "reviewer (optional)", "zh": "审查人（可选）"},
    "ui.download_decisions": {"en": "Download decisions.geojson",
                              "zh": "下载审查意见 decisions.geojson"},
    "ui.load_decisions": {"en": "Load decisions…", "zh": "载入审查意见…"},
    "ui.decisions_loaded": {"en": " decisions loaded", "zh": " 条意见已载入"},
    "ui.not_on_map": {"en": " not on this map", "zh": " 条不在本图中"},
    "ui.decisions_help": {"en": "Open a station, park or pipe to approve or reject it. "
                                "Decisions stay in this browser until downloaded.",
                          "zh": "点击充电站、物流园区或供热管道，即可同意或驳回。"
                                "意见保存在本浏览器中，直到下载。"},
    "ui.synthetic_layer": {"en": "synthetic layer", "zh": "合成数据图层"},
    "ui.synthetic_suffix": {"en": " (synthetic)", "zh": "（合成数据）"},
    "ui.synthetic_layers": {"en": "synthetic layers: ", "zh": "合成数据图层："},
    "ui.candidate_note": {"en": "candidate site — not in the plan; read only",
                          "zh": "候选站址——不在规划中；只读"},
    "ui.offline_roads": {"en": "Offline: region roads", "zh": "离线：区域道路"},
    "ui.offline_none": {"en": "Offline (no tiles)", "zh": "离线（无底图）"},
    "ui.full_screen": {"en": "Full screen", "zh": "全屏"},
    "ui.measure": {"en": "Measure distance", "zh": "测量距离"},
    "ui.measure_stop": {"en": "Stop measuring", "zh": "停止测量"},
    "ui.filter_rows": {"en": "filter rows", "zh": "筛选"},
    "ui.hide": {"en": "hide", "zh": "隐藏"},
    "ui.show": {"en": "show", "zh": "显示"},
    "ui.yes": {"en": "yes", "zh": "是"},
    "ui.no": {"en": "no", "zh": "否"},
    "ui.around_station": {"en": "{radius_m} m around each station",
                          "zh": "每座充电站周边 {radius_m} 米"},
    "ui.no_js": {"en": "This map needs JavaScript.", "zh": "本地图需要启用 JavaScript。"},
    # ---------------------------------------------------------------- units (KPI values)
    "unit.piles": {"en": "piles", "zh": "个"},
    "unit.NEVs": {"en": "NEVs", "zh": "辆"},
    "unit.minutes": {"en": "minutes", "zh": "分钟"},
    "unit.CNY/yr": {"en": "CNY/yr", "zh": "元/年"},
    "unit.CNY": {"en": "CNY", "zh": "元"},
    "unit.t/yr": {"en": "t/yr", "zh": "吨/年"},
    "unit.Mt/yr": {"en": "Mt/yr", "zh": "百万吨/年"},
    "unit.t·km/yr": {"en": "t·km/yr", "zh": "吨公里/年"},
    "unit.h": {"en": "h", "zh": "小时"},
    "unit.GJ": {"en": "GJ", "zh": "吉焦"},
    "unit.km": {"en": "km", "zh": "公里"},
    # ---------------------------------------------------------------- CLI summary
    "cli.targets": {"en": "Targets: {met} of {total} met",
                    "zh": "规划目标：{total} 项中 {met} 项达标"},
    "cli.targets_none": {"en": "Targets: none for these planners",
                         "zh": "规划目标：本次规划无目标"},
    "cli.target_ok": {"en": "ok ", "zh": "达标  "},
    "cli.not_modelled": {"en": "NOT MET (not modelled)", "zh": "未达标（未建模）"},
    "cli.needs_more": {"en": "NOT MET, needs more than {value}", "zh": "未达标，需大于 {value}"},
    "cli.short": {"en": "NOT MET, short {value}", "zh": "未达标，缺口 {value}"},
    "cli.target_no": {"en": "NO ", "zh": "未达标"},
    "cli.plan_for": {"en": "Plan for {region}: ", "zh": "{region} 规划："},
    "cli.wrote": {"en": "Wrote: ", "zh": "已写出："},
    "cli.map_of": {"en": "Map of {plan}", "zh": "{plan} 的地图"},
    # ---------------------------------------------------------------- KPI labels
    "kpi.piles_total": {"en": "Charging piles", "zh": "充电桩"},
    "kpi.piles_slow": {"en": "Slow piles", "zh": "慢充桩"},
    "kpi.piles_fast": {"en": "Fast piles", "zh": "快充桩"},
    "kpi.fast_share": {"en": "Share of fast piles", "zh": "快充桩占比"},
    "kpi.stations": {"en": "Charging stations", "zh": "充电站"},
    "kpi.kw_total_mw": {"en": "Charging power", "zh": "充电功率"},
    "kpi.sessions_day": {"en": "Charging sessions a day", "zh": "日充电次数"},
    "kpi.sessions_served_day": {"en": "Sessions served a day", "zh": "日服务充电次数"},
    "kpi.nev_served": {"en": "NEVs served", "zh": "服务新能源汽车"},
    "kpi.nev": {"en": "NEVs", "zh": "新能源汽车"},
    "kpi.coverage_share": {"en": "Demand within reach", "zh": "服务范围内需求占比"},
    "kpi.unmet_share": {"en": "Demand unmet", "zh": "未满足需求占比"},
    "kpi.unreachable_share": {"en": "Demand out of reach", "zh": "服务范围外需求占比"},
    "kpi.mean_distance_m": {"en": "Mean distance to a station", "zh": "到充电站平均距离"},
    "kpi.utilisation": {"en": "Mean utilisation", "zh": "平均利用率"},
    "kpi.peak_utilisation": {"en": "Utilisation, busiest hour", "zh": "高峰小时利用率"},
    "kpi.peak_wait_min": {"en": "Expected wait, busiest hour", "zh": "高峰小时预计等待时间"},
    "kpi.peak_p_wait_over_max": {"en": "Chance of a wait over the limit, busiest hour",
                                 "zh": "高峰小时等待超限概率"},
    "kpi.stations_erlang_binding": {"en": "Stations at the waiting-time limit",
                                    "zh": "达到等待时间上限的充电站"},
    "kpi.median_station_sessions_day": {"en": "Sessions a day per station (median)",
                                        "zh": "单站日充电次数（中位数）"},
    "kpi.ratio_shortfall_piles": {"en": "Piles short of the pile-to-NEV ratio",
                                  "zh": "车桩比缺口（桩）"},
    "kpi.existing_piles": {"en": "Existing piles", "zh": "现状充电桩"},
    "kpi.stations_existing": {"en": "Existing stations", "zh": "现状充电站"},
    "kpi.stations_new": {"en": "New stations", "zh": "新建充电站"},
    "kpi.piles_per_nev": {"en": "Piles per NEV", "zh": "车桩比（桩/车）"},
    "kpi.stations_fleet": {"en": "Bus depots and taxi hubs", "zh": "公交场站与出租车枢纽"},
    "kpi.piles_public": {"en": "Public piles", "zh": "公共充电桩"},
    "kpi.piles_fleet": {"en": "Fleet piles", "zh": "专用充电桩"},
    "kpi.objective_cny_per_year": {"en": "Annual cost (objective)", "zh": "年费用（目标函数）"},
    "kpi.bound_cny_per_year": {"en": "Lower bound of the annual cost", "zh": "年费用下界"},
    "kpi.status": {"en": "Solver status", "zh": "求解状态"},
    "kpi.mip_gap": {"en": "Optimality gap", "zh": "最优性间隙"},
    "kpi.solve_seconds": {"en": "Solve time", "zh": "求解时间"},
    "kpi.solver": {"en": "Solver", "zh": "求解器"},
    "kpi.checked": {"en": "Solution checked", "zh": "解已校核"},
    "kpi.substations": {"en": "Substations", "zh": "变电站"},
    "kpi.substations_used": {"en": "Substations used", "zh": "使用的变电站"},
    "kpi.substations_binding": {"en": "Substations at full headroom", "zh": "容量用尽的变电站"},
    "kpi.max_substation_use_share": {"en": "Highest use of a substation's headroom",
                                     "zh": "变电站余量最高使用率"},
    "kpi.definition": {"en": "Definition", "zh": "定义"},
    "kpi.note": {"en": "Note", "zh": "说明"},
    "kpi.source": {"en": "Source", "zh": "来源"},
    "kpi.proven_over": {"en": "Optimum proven over", "zh": "最优性证明范围"},
    "kpi.nothing_to_plan": {"en": "Nothing to plan", "zh": "无可规划内容"},
    "kpi.method": {"en": "Method", "zh": "方法"},
    "kpi.overloaded_substations": {"en": "Substations over headroom", "zh": "超出余量的变电站"},
    "kpi.overload_mw": {"en": "Load over headroom", "zh": "超出余量的负荷"},
    "kpi.overloaded_substations_sequential": {
        "en": "Substations over headroom, planners one after another",
        "zh": "逐个规划时超出余量的变电站"},
    "kpi.overload_mw_sequential": {"en": "Load over headroom, planners one after another",
                                   "zh": "逐个规划时超出余量的负荷"},
    "kpi.land_conflicts": {"en": "Parcels wanted by two planners", "zh": "用地冲突"},
    "kpi.land_conflicts_sequential": {"en": "Parcels wanted by two planners, one after "
                                            "another", "zh": "逐个规划时的用地冲突"},
    "kpi.cost_joint_cny_yr": {"en": "Annual cost, joint plan", "zh": "联合规划年费用"},
    "kpi.cost_sequential_cny_yr": {"en": "Annual cost, planners one after another",
                                   "zh": "逐个规划年费用"},
    "kpi.extra_cost_cny_yr": {"en": "Extra annual cost of the joint plan",
                              "zh": "联合规划增加的年费用"},
    "kpi.bound_cny_yr": {"en": "Lower bound of the joint annual cost", "zh": "联合年费用下界"},
    "kpi.bound_note": {"en": "Bound", "zh": "下界说明"},
    "kpi.heat_pump_mw": {"en": "Heat pumps' electric load", "zh": "热泵用电负荷"},
    "kpi.logistics_mw": {"en": "Logistics parks' electric load", "zh": "物流园区用电负荷"},
    "kpi.park_mw_per_mt": {"en": "Park electric peak per Mt handled", "zh": "园区每百万吨用电峰值"},
    "kpi.heat_pump_coincidence": {"en": "Heat pump load at the charging peak",
                                  "zh": "热泵负荷同时率"},
    "kpi.park_radius_m": {"en": "Land a park takes (radius)", "zh": "园区占地半径"},
    "kpi.new_residential_sites": {"en": "New residential communities", "zh": "新建住宅小区"},
    "kpi.reserved_before_plan": {"en": "Reserved before the plan", "zh": "规划前已预留"},
    "kpi.with_piles": {"en": "Communities given piles", "zh": "配建充电桩的小区"},
    "kpi.with_piles_share": {"en": "Share given piles", "zh": "配建充电桩比例"},
    "kpi.with_piles_final_share": {"en": "Share with piles, final stage",
                                   "zh": "末期配建充电桩比例"},
    "kpi.reserved": {"en": "Communities with reserved installation conditions",
                     "zh": "预留安装条件的小区"},
    "kpi.reserved_share": {"en": "Share with reserved installation conditions",
                           "zh": "预留安装条件比例"},
    "kpi.buses": {"en": "Urban buses", "zh": "城市公交车"},
    "kpi.buses_electric": {"en": "Electric buses", "zh": "电动公交车"},
    "kpi.bus_depot_capacity": {"en": "Bus depot capacity (buses)", "zh": "公交场站容量（辆）"},
    "kpi.buses_charged": {"en": "Buses charged", "zh": "可充电公交车"},
    "kpi.bus_charged_share": {"en": "Share of buses charged", "zh": "可充电公交车比例"},
    "kpi.bus_piles": {"en": "Bus depot piles", "zh": "公交场站充电桩"},
    "kpi.bus_kw_mw": {"en": "Bus depot power", "zh": "公交场站充电功率"},
    "kpi.taxis": {"en": "Cruise taxis", "zh": "巡游出租车"},
    "kpi.taxis_electric": {"en": "Electric taxis", "zh": "电动出租车"},
    "kpi.taxi_hub_capacity": {"en": "Taxi hub capacity (taxis)", "zh": "出租车枢纽容量（辆）"},
    "kpi.taxis_charged": {"en": "Taxis charged", "zh": "可充电出租车"},
    "kpi.taxi_charged_share": {"en": "Share of taxis charged", "zh": "可充电出租车比例"},
    "kpi.taxi_piles": {"en": "Taxi hub piles", "zh": "出租车枢纽充电桩"},
    "kpi.taxi_kw_mw": {"en": "Taxi hub power", "zh": "出租车枢纽充电功率"},
    "kpi.taxi_sessions_day": {"en": "Taxi charging sessions a day", "zh": "出租车日充电次数"},
    "kpi.taxi_peak_wait_probability_max": {
        "en": "Highest chance of waiting at a taxi hub, busiest hour",
        "zh": "高峰小时出租车枢纽最高等待概率"},
    "kpi.fleet.piles": {"en": "Fleet piles", "zh": "专用充电桩"},
    "kpi.fleet.kw_total_mw": {"en": "Fleet charging power", "zh": "专用充电功率"},
    "kpi.demand_cells": {"en": "Demand cells", "zh": "需求网格"},
    "kpi.demand_points": {"en": "Demand points", "zh": "需求点"},
    "kpi.candidates": {"en": "Candidate sites", "zh": "候选站址"},
    "kpi.pairs": {"en": "Candidate-demand pairs", "zh": "候选—需求配对"},
    "kpi.service_radius_m": {"en": "Service radius", "zh": "服务半径"},
    "kpi.stages": {"en": "Build stages", "zh": "建设阶段"},
    "kpi.parks": {"en": "Logistics parks", "zh": "物流园区"},
    "kpi.freight_mt": {"en": "Multimodal freight", "zh": "多式联运货运量"},
    "kpi.target_mt": {"en": "Freight target", "zh": "货运量目标"},
    "kpi.target_year": {"en": "Target year", "zh": "目标年份"},
    "kpi.rail_access_max_m": {"en": "Longest rail access", "zh": "最长铁路接入距离"},
    "kpi.road_access_max_m": {"en": "Longest road access", "zh": "最长道路接入距离"},
    "kpi.co2_saved_t": {"en": "CO₂ saved (net)", "zh": "CO₂减排量（净）"},
    "kpi.co2_saved_gross_t": {"en": "CO₂ saved (gross)", "zh": "CO₂减排量（总）"},
    "kpi.co2_rail_t": {"en": "CO₂ of the rail haul", "zh": "铁路运输CO₂"},
    "kpi.co2_drayage_t": {"en": "CO₂ of drayage", "zh": "短驳运输CO₂"},
    "kpi.co2_delivery_t": {"en": "CO₂ of delivery", "zh": "配送CO₂"},
    "kpi.co2_handling_t": {"en": "CO₂ of handling", "zh": "装卸CO₂"},
    "kpi.capacity_mt": {"en": "Park capacity", "zh": "园区能力"},
    "kpi.logistics.utilisation": {"en": "Park utilisation", "zh": "园区利用率"},
    "kpi.drayage_mean_km": {"en": "Mean drayage distance", "zh": "平均短驳距离"},
    "kpi.drayage_tkm": {"en": "Drayage", "zh": "短驳周转量"},
    "kpi.sources": {"en": "Freight sources", "zh": "货源"},
    "kpi.sources_served": {"en": "Freight sources served", "zh": "已服务货源"},
    "kpi.source_freight_mt": {"en": "Freight at the sources", "zh": "货源货运量"},
    "kpi.rail_suitable_mt": {"en": "Freight suited to rail", "zh": "适铁货运量"},
    "kpi.existing_parks": {"en": "Existing parks", "zh": "现状园区"},
    "kpi.park_cost_cny_yr": {"en": "Park cost", "zh": "园区费用"},
    "kpi.drayage_cost_cny_yr": {"en": "Drayage cost", "zh": "短驳费用"},
    "kpi.rail_shift_value_cny_yr": {"en": "Value of the shift to rail", "zh": "公转铁效益"},
    "kpi.net_cost_cny_yr": {"en": "Net cost", "zh": "净费用"},
    "kpi.objective_cny_yr": {"en": "Annual cost (objective)", "zh": "年费用（目标函数）"},
    "kpi.road_access_class": {"en": "Road access by", "zh": "道路接入等级"},
    "kpi.pipes_km": {"en": "Heat pipes", "zh": "供热管道"},
    "kpi.heat_delivered_mw": {"en": "Heat delivered", "zh": "供热量"},
    "kpi.sources_used": {"en": "Heat sources used", "zh": "使用的热源"},
    "kpi.loss_share": {"en": "Share of heat lost in pipes", "zh": "管网热损失比例"},
    "kpi.co2_avoided_t": {"en": "CO₂ avoided", "zh": "CO₂减排量"},
    "kpi.interconnection_km": {"en": "Pipes between zone networks", "zh": "片区管网联络管"},
    "kpi.source_link_km": {"en": "Pipes from sources", "zh": "热源接入管"},
    "kpi.required_links": {"en": "Required links", "zh": "必建连接"},
    "kpi.required_links_built": {"en": "Required links built", "zh": "已建必建连接"},
    "kpi.waste_heat_mw": {"en": "Waste heat used", "zh": "利用余热"},
    "kpi.chp_extraction_mw": {"en": "CHP extraction", "zh": "热电联产抽汽"},
    "kpi.heat_delivered_gj": {"en": "Heat delivered a season", "zh": "供暖季供热量"},
    "kpi.heat_supplied_mw": {"en": "Heat supplied", "zh": "热源供热量"},
    "kpi.loss_mw": {"en": "Heat lost in pipes", "zh": "管网热损失"},
    "kpi.loss_gj": {"en": "Heat lost a season", "zh": "供暖季热损失"},
    "kpi.season_hours": {"en": "Heating season", "zh": "供暖季时长"},
    "kpi.co2_displaced_t": {"en": "CO₂ displaced", "zh": "替代CO₂"},
    "kpi.co2_chp_fuel_t": {"en": "CO₂ of CHP fuel", "zh": "热电联产燃料CO₂"},
    "kpi.co2_grid_t": {"en": "CO₂ of grid electricity", "zh": "电网用电CO₂"},
    "kpi.heat_pump_mw_e": {"en": "Heat pump electricity", "zh": "热泵用电"},
    "kpi.sources_available": {"en": "Heat sources available", "zh": "可用热源"},
    "kpi.heat.sources": {"en": "Heat sources", "zh": "热源"},
    "kpi.sinks": {"en": "Heat networks (sinks)", "zh": "热用户片区"},
    "kpi.sinks_served": {"en": "Heat networks served", "zh": "已供热片区"},
    "kpi.demand_mw": {"en": "Heat demand", "zh": "热负荷"},
    "kpi.unmet_mw": {"en": "Heat demand unmet", "zh": "未满足热负荷"},
    "kpi.capex_cny": {"en": "Capital cost", "zh": "投资"},
    "kpi.annual_capex_cny": {"en": "Annualised capital cost", "zh": "年化投资"},
    "kpi.loss_cost_cny": {"en": "Cost of heat lost", "zh": "热损失费用"},
    "kpi.heat_pump_electricity_cny": {"en": "Heat pump electricity cost", "zh": "热泵电费"},
    "kpi.chp_fuel_cny": {"en": "CHP fuel", "zh": "热电联产燃料"},
    "kpi.pumping_cny": {"en": "Pumping", "zh": "循环泵"},
    "kpi.displaced_heat_value_cny": {"en": "Value of heat displaced", "zh": "替代热量价值"},
    "kpi.unmet_penalty_avoided_cny": {"en": "Unmet-demand penalty avoided",
                                      "zh": "避免的未满足需求罚金"},
    "kpi.net_annual_cost_cny": {"en": "Net annual cost", "zh": "年净费用"},
    "kpi.candidate_road_edges": {"en": "Candidate road edges", "zh": "候选道路段"},
    "kpi.corridor_edges": {"en": "Corridor edges", "zh": "走廊路段"},
    "kpi.candidate_links": {"en": "Candidate links", "zh": "候选连接"},
    "kpi.trunk_candidates": {"en": "Candidate trunk pipes", "zh": "候选干管"},
    "kpi.diameter_options": {"en": "Pipe diameter options", "zh": "管径选项"},
    "kpi.result": {"en": "Result", "zh": "结果"},
    "kpi.violations": {"en": "Violations", "zh": "违规"},
    "kpi.conditions": {"en": "Conditions", "zh": "条件"},
    "kpi.items_with_violations": {"en": "Items with violations", "zh": "违规项目"},
    "kpi.extra_cost_cny": {"en": "Extra cost", "zh": "额外费用"},
}

_warned: set[tuple[str, str]] = set()


def t(key: str, lang: str = "en", **values: object) -> str:
    """The text of ``key`` in ``lang`` (``"en"`` or ``"zh"``), formatted with ``values``.

    A key without ``lang`` falls back to English, and a key not in :data:`MESSAGES`
    to the key itself; each fallback is logged once.
    """
    entry = MESSAGES.get(key)
    text = entry.get(lang) if entry else None
    if not text:
        if (key, lang) not in _warned:
            _warned.add((key, lang))
            logger.warning("no %s text for message %r; using %s", lang, key,
                           "English" if entry else "the key")
        text = entry.get("en", key) if entry else key
    return text.format(**values) if values else text


def has(key: str) -> bool:
    """Whether ``key`` is in the catalogue."""
    return key in MESSAGES


def texts(prefix: str, lang: str = "en") -> dict[str, str]:
    """Every message under ``prefix`` (``"ui."``) in ``lang``, keyed without the prefix."""
    return {k[len(prefix):]: t(k, lang) for k in MESSAGES if k.startswith(prefix)}


def html_lang(lang: str) -> str:
    """The ``<html lang>`` of a page in ``lang``: ``zh-CN`` or ``en``."""
    return "zh-CN" if lang == "zh" else "en"


def is_zibo(*names: object) -> bool:
    """Whether any of ``names`` (region name, scenario name) is Zibo's (淄博)."""
    return any("zibo" in str(n).lower() or "淄博" in str(n) for n in names if n)


def default_lang(*names: object, demo: bool = False) -> str:
    """``zh`` for Zibo's scenarios (the embedded demo, or a name with Zibo/淄博), else ``en``."""
    return "zh" if demo or is_zibo(*names) else "en"


def check_lang(lang: str) -> str:
    """``lang`` if supported, else :class:`~siting.errors.InputError`."""
    from siting.errors import InputError

    if lang not in LANGS:
        raise InputError(f"language {lang!r}: expected one of {', '.join(LANGS)}")
    return lang


def kpi_text(key: str, lang: str) -> str | None:
    """The KPI label of ``kpi.<key>`` in ``lang``, or None when it is not catalogued."""
    return t(f"kpi.{key}", lang) if f"kpi.{key}" in MESSAGES else None


def labels(mapping: Mapping[str, str], prefix: str, lang: str) -> dict[str, str]:
    """``mapping`` (key -> English label) with each label in ``lang`` where catalogued."""
    return {k: t(prefix + k, lang) if prefix + k in MESSAGES else v for k, v in mapping.items()}
