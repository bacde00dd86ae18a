"""Every feature column with a one-line description; docs and reason codes read from here.

Names are ``<family>__<name>``. Names built from a parameter (a window length, a category) are
registered as templates such as ``rfm__orders_{window}d``, and ``describe`` fills them in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FEATURES", "FeatureInfo", "describe", "families"]


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    family: str
    description: str
    unit: str = ""


def _info(name: str, description: str, unit: str = "") -> FeatureInfo:
    return FeatureInfo(name, name.split("__", 1)[0], description, unit)


FEATURES: dict[str, FeatureInfo] = {
    f.name: f
    for f in [
        _info("rfm__recency_days", "days from the last purchase to the cutoff", "days"),
        _info("rfm__frequency", "number of orders (purchases, not returns) before the cutoff"),
        _info("rfm__monetary_total", "total revenue of all purchases", "currency"),
        _info("rfm__monetary_mean", "mean revenue per order", "currency"),
        _info("rfm__monetary_max", "largest single order's revenue", "currency"),
        _info("rfm__tenure_days", "days from the first purchase to the cutoff", "days"),
        _info("rfm__gap_mean_days", "mean days between consecutive orders", "days"),
        _info("rfm__gap_median_days", "median days between consecutive orders", "days"),
        _info("rfm__gap_std_days", "standard deviation of days between consecutive orders", "days"),
        _info("rfm__recency_gap_ratio", "days since last order divided by the mean gap"),
        _info("rfm__returns", "number of return or cancellation orders"),
        _info("rfm__return_value_ratio", "value returned as a share of value purchased"),
        _info("rfm__orders_{window}d", "orders in the {window} days before the cutoff"),
        _info(
            "rfm__revenue_{window}d", "revenue in the {window} days before the cutoff", "currency"
        ),
        _info("affinity__spend_share_{category}", "share of spend on category '{category}'"),
        _info("affinity__view_share_{category}", "share of product views in category '{category}'"),
        _info("affinity__spend_share_other", "share of spend outside the top categories"),
        _info("affinity__category_entropy", "diversity of spend across categories (entropy, bits)"),
        _info("affinity__categories_bought", "number of distinct categories bought"),
        _info("engagement__email_opens_{window}d", "email opens in the last {window} days"),
        _info("engagement__email_clicks_{window}d", "email clicks in the last {window} days"),
        _info("engagement__sms_clicks_{window}d", "SMS clicks in the last {window} days"),
        _info("engagement__ad_clicks_{window}d", "ad clicks in the last {window} days"),
        _info("engagement__email_click_rate", "email clicks per email open, all history"),
        _info(
            "engagement__days_since_engagement",
            "days since the last email/SMS/ad interaction",
            "days",
        ),
        _info("engagement__sessions_{window}d", "browsing sessions in the last {window} days"),
        _info("engagement__active_days_{window}d", "days with any event in the last {window} days"),
        _info("intent__product_views_{window}d", "product views in the last {window} days"),
        _info("intent__cart_adds_{window}d", "add-to-cart events in the last {window} days"),
        _info("intent__searches_{window}d", "searches in the last {window} days"),
        _info("intent__views_since_purchase", "product views since the last purchase"),
        _info("intent__cart_adds_since_purchase", "add-to-cart events since the last purchase"),
        _info("intent__abandoned_cart", "1 if items were added to cart after the last purchase"),
        _info("intent__abandoned_checkout", "1 if a checkout began after the last purchase"),
        _info("intent__days_since_cart_add", "days since the last add-to-cart", "days"),
        _info("intent__days_since_product_view", "days since the last product view", "days"),
        _info("attr__country", "country from the customers table"),
        _info("attr__region", "region from the customers table"),
        _info("attr__language", "language from the customers table"),
        _info("attr__email_consent", "1 if the customer opted in to email"),
        _info("attr__sms_consent", "1 if the customer opted in to SMS"),
        _info("attr__signup_tenure_days", "days from sign-up to the cutoff", "days"),
    ]
}


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(f"(?P<{p}>.+?)" if i % 2 else re.escape(p) for i, p in enumerate(parts))
    return re.compile(f"^{regex}$")


_TEMPLATES = [(_pattern(k), v) for k, v in FEATURES.items() if "{" in k]


def describe(name: str) -> FeatureInfo:
    """The registry entry for a concrete column name, templates filled in."""
    if name in FEATURES:
        return FEATURES[name]
    for pattern, info in _TEMPLATES:
        match = pattern.match(name)
        if match:
            return FeatureInfo(
                name, info.family, info.description.format(**match.groupdict()), info.unit
            )
    known = ", ".join(sorted(FEATURES)[:5])
    raise KeyError(f"feature {name!r} is not in the registry (e.g. {known}, ...)")


def families() -> list[str]:
    return sorted({f.family for f in FEATURES.values()})
