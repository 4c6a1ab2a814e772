"""Sparse cost input and the OR-Library readers (on tiny files written here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from siting.errors import InputError
from siting.models import SparseCosts
from siting.models._radius import Levels, nearest_open
from siting.models.costs import as_index_array
from siting.models.orlib import read_cap, read_optima, read_pmed, read_scp


def test_triples_are_sorted_by_cost_per_client() -> None:
    sc = SparseCosts.from_input(([1, 0, 0, 1], [0, 2, 1, 1], [5.0, 3.0, 1.0, 5.0]))
    assert (sc.n_clients, sc.n_sites, sc.nnz) == (2, 3, 4)
    assert sc.indptr.tolist() == [0, 2, 4]
    assert sc.site.tolist() == [1, 2, 0, 1]  # client 1: tie on cost 5 -> lower site first
    assert sc.cost.tolist() == [1.0, 3.0, 5.0, 5.0]


def test_sparse_matrix_keeps_explicit_zeros() -> None:
    m = sp.coo_matrix((np.array([0.0, 2.0]), (np.array([0, 1]), np.array([1, 0]))),
                      shape=(2, 3))
    sc = SparseCosts.from_input(m)
    assert sc.nnz == 2 and sc.cost.tolist() == [0.0, 2.0] and sc.n_sites == 3


@pytest.mark.parametrize(("costs", "kwargs", "match"), [
    (([0, 0], [1, 1], [1.0, 2.0]), {}, r"pair \(client 0, site 1\) appears more than once"),
    (([0], [0], [-1.0]), {}, "1 negative costs"),
    (([0], [0], [np.inf]), {}, "non-finite costs"),
    (([0, 3], [0, 0], [1.0, 1.0]), {"n_clients": 2}, r"client index outside 0..1"),
    (([0], [0, 1], [1.0]), {}, "differ in length"),
    (np.ones((2, 2)), {}, "a dense matrix must be converted explicitly"),
    (sp.csr_matrix(np.ones((2, 2))), {"n_sites": 3}, "matrix has 2 columns but there are 3"),
])
def test_bad_costs_are_named(costs: object, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        SparseCosts.from_input(costs, **kwargs)  # type: ignore[arg-type]


def test_index_arrays_from_masks_and_indices() -> None:
    assert as_index_array([3, 1, 3], n=4, name="x").tolist() == [1, 3]
    assert as_index_array(np.array([True, False, True]), n=3, name="x").tolist() == [0, 2]
    with pytest.raises(InputError, match=r"fixed: site index outside 0..2"):
        as_index_array([5], n=3, name="fixed")
    with pytest.raises(InputError, match="expected site indices"):
        as_index_array([0.5], n=3, name="fixed")


def test_levels_and_nearest_open() -> None:
    # client 0: costs 1, 1, 4 (two levels); client 1: cost 2 (one level); client 2: none
    sc = SparseCosts.from_input(([0, 0, 0, 1], [0, 1, 2, 2], [1.0, 1.0, 4.0, 2.0]),
                                n_clients=3)
    lv = Levels.of(sc)
    assert lv.count.tolist() == [2, 1, 0]
    assert lv.value.tolist() == [1.0, 4.0, 2.0]
    assert lv.pair_level.tolist() == [0, 0, 1, 0]
    assert lv.sites_within(np.array([1, 1, 0]), sc).tolist() == [2, 1, 0]
    pos, site = nearest_open(sc, np.array([False, True, True]))
    assert site.tolist() == [1, 2, -1] and pos.tolist() == [1, 0, -1]
    dropped = sc.drop_sites(np.array([True, False, False]))
    assert dropped.indptr.tolist() == [0, 2, 3, 3]


# ----------------------------------------------------------------------- readers
def test_pmed_duplicate_edges_last_occurrence_wins(tmp_path: Path) -> None:
    f = tmp_path / "pmedx.txt"
    f.write_text("3 4 1\n1 2 10\n2 3 5\n2 1 3\n1 3 100\n")  # (1,2): 10 then 3 -> 3 wins
    inst = read_pmed(f)
    d = inst.shortest_paths()
    assert (inst.n, inst.p) == (3, 1)
    assert d[0, 1] == 3.0 and d[0, 2] == 8.0 and d[2, 0] == 8.0


def test_pmed_errors(tmp_path: Path) -> None:
    f = tmp_path / "bad.txt"
    f.write_text("3 2 1\n1 2 10\n")
    with pytest.raises(InputError, match="header says 2 edges but the file holds 1"):
        read_pmed(f)
    f.write_text("3 1 1\n1 4 10\n")
    with pytest.raises(InputError, match=r"vertex outside 1..3"):
        read_pmed(f)
    f.write_text("3 1 1\n1 2 x\n")
    with pytest.raises(InputError, match="'x' is not a number"):
        read_pmed(f)
    f.write_text("3 1 1\n1 2 4\n")
    with pytest.raises(InputError, match="disconnected"):
        read_pmed(f).shortest_paths()


def test_cap_with_symbolic_capacity(tmp_path: Path) -> None:
    f = tmp_path / "capz.txt"
    f.write_text("2 2\n capacity 100.\n capacity 200.\n5\n 1.5 2.5\n7\n 3 4\n")
    inst = read_cap(f)
    assert inst.symbolic_capacity
    v = inst.with_capacity(50)
    assert v.name == "capz-50" and v.capacity.tolist() == [50.0, 50.0]
    assert inst.fixed_cost.tolist() == [100.0, 200.0]
    assert inst.demand.tolist() == [5.0, 7.0]
    assert inst.cost.tolist() == [[1.5, 2.5], [3.0, 4.0]]
    f.write_text("2 2\n 10 100\n")
    with pytest.raises(InputError, match="needs 12 numbers, but the file holds 4"):
        read_cap(f)


def test_scp_reader(tmp_path: Path) -> None:
    f = tmp_path / "scpz.txt"
    f.write_text("2 3\n 4 5 6\n2\n 1 3\n1\n 2\n")
    inst = read_scp(f)
    assert inst.cost.tolist() == [4.0, 5.0, 6.0]
    assert inst.cover.toarray().astype(int).tolist() == [[1, 0, 1], [0, 1, 0]]
    f.write_text("2 3\n 4 5 6\n2\n 1 4\n")
    with pytest.raises(InputError, match=r"row 1 names a column outside 1..3"):
        read_scp(f)


def test_optima_files(tmp_path: Path) -> None:
    f = tmp_path / "opt.txt"
    f.write_text("Data file   Optimal solution value\ncap41       1040444.375\n"
                 "capa        19240822.449 (capacity 8000)\n"
                 "            18438046.543 (capacity 10000)\npmed1 5819\n")
    assert read_optima(f) == {"cap41": 1040444.375, "capa-8000": 19240822.449,
                              "capa-10000": 18438046.543, "pmed1": 5819.0}
