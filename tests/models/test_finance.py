import pytest

from siting.errors import InputError
from siting.models.finance import annuity_factor


def test_annuity_factor_by_hand():
    assert annuity_factor(0.0, 10) == pytest.approx(0.1)
    # 0.06 / (1 - 1.06**-30) = 0.0726489...
    assert annuity_factor(0.06, 30) == pytest.approx(0.0726489, rel=1e-6)
    # one year: repay the capital and one year's interest
    assert annuity_factor(0.05, 1) == pytest.approx(1.05)


@pytest.mark.parametrize(("rate", "years", "match"), [
    (0.06, 0, "years=0 must be > 0"),
    (0.06, -3, "years=-3"),
    (float("nan"), 10, "rate=nan"),
    (-1.5, 10, "rate=-1.5"),
])
def test_annuity_factor_rejects_bad_input(rate, years, match):
    with pytest.raises(InputError, match=match):
        annuity_factor(rate, years)
