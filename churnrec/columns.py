"""The one home for churnrec's column and table names, so renaming or adding one is one change.
The names are the *canonical* ones: whatever a shop calls its columns, ingest maps them here."""

from __future__ import annotations

# --- orders: one row per order line -------------------------------------------------------
CUSTOMER_ID = "customer_id"
ORDER_ID = "order_id"
ORDERED_AT = "ordered_at"
ITEM_ID = "item_id"
QUANTITY = "quantity"
UNIT_PRICE = "unit_price"
AMOUNT = "amount"  # line total = quantity * unit_price when only unit_price is given
CHANNEL = "channel"
STATUS = "status"
IS_RETURN = "is_return"  # derived at ingest: status says returned/cancelled/refunded
LINE_ID = "line_id"  # derived at ingest: key of the order line (see ingest/keys.py)
SHOP_LINE_ID = "shop_line_id"  # optional input: the shop's own id/number of the line in an order

# --- customers ----------------------------------------------------------------------------
SIGNED_UP_AT = "signed_up_at"
REGION = "region"
AGE = "age"
GENDER = "gender"
ACQUISITION_CHANNEL = "acquisition_channel"
MARKETING_CONSENT = "marketing_consent"

# --- items --------------------------------------------------------------------------------
CATEGORY = "category"
BRAND = "brand"
PRICE = "price"
# catalogue rules (items table; absent = true): in stock, and ever to be shown
AVAILABLE = "available"
RECOMMENDABLE = "recommendable"

# --- events -------------------------------------------------------------------------------
OCCURRED_AT = "occurred_at"
EVENT_TYPE = "event_type"
SESSION_ID = "session_id"
PLATFORM = "platform"  # device of a session: desktop, mobile_web, ios_app, android_app, ...

# --- campaigns: one row per customer per campaign (who got what, and what happened) --------
CAMPAIGN_ID = "campaign_id"
ARM = "arm"  # e.g. control, email_a
SENT_AT = "sent_at"
CONVERTED = "converted"  # 0/1 outcome
REVENUE = "revenue"
VISITED = "visited"  # 0/1 outcome

# --- quarantine ---------------------------------------------------------------------------
SOURCE_FILE = "source_file"
SOURCE_ROW = "source_row"  # 1-based data row number in the source file (header excluded)
REASON = "reason"
QUARANTINE_COLUMN = "column"  # which column made the row unusable
QUARANTINE_ACTION = "action"  # rejected_row, or cell_set_to_no (row kept, one cell replaced)
INGEST_ID = "ingest_id"  # which ingest run wrote the quarantine row
INGESTED_AT = "ingested_at"

# --- features / labels --------------------------------------------------------------------
AS_OF = "as_of"
CHURNED = "churned"
DAYS_TO_NEXT_ORDER = "days_to_next_order"
CENSORED = "censored"
HORIZON_DAYS = "horizon_days"
RFM_SEGMENT = "rfm_segment"
LIFECYCLE_STAGE = "lifecycle_stage"
WEIGHT = "weight"

# Table kinds a user can bring, and the columns each requires / may carry.
ORDERS = "orders"
CUSTOMERS = "customers"
ITEMS = "items"
EVENTS = "events"
CAMPAIGNS = "campaigns"
TABLE_KINDS = (ORDERS, CUSTOMERS, ITEMS, EVENTS)
# What ingest can store: the feature tables plus campaigns (read by campaign read-outs only).
INGEST_KINDS = (*TABLE_KINDS, CAMPAIGNS)
# Order lines without a customer id (guest checkouts, till sales): stored beside the orders,
# read by item-level uses only (demand), never by anything per customer.
GUEST_ORDERS = "guest_order_lines"

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    ORDERS: (CUSTOMER_ID, ORDERED_AT),
    CUSTOMERS: (CUSTOMER_ID,),
    ITEMS: (ITEM_ID,),
    EVENTS: (CUSTOMER_ID, OCCURRED_AT, EVENT_TYPE),
    CAMPAIGNS: (CUSTOMER_ID, CAMPAIGN_ID, ARM, SENT_AT),
}

OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    ORDERS: (ORDER_ID, ITEM_ID, QUANTITY, UNIT_PRICE, AMOUNT, CHANNEL, STATUS, SHOP_LINE_ID),
    CUSTOMERS: (SIGNED_UP_AT, REGION, AGE, GENDER, ACQUISITION_CHANNEL, MARKETING_CONSENT),
    ITEMS: (CATEGORY, BRAND, PRICE, AVAILABLE, RECOMMENDABLE),
    EVENTS: (ITEM_ID, SESSION_ID, CHANNEL, PLATFORM),
    CAMPAIGNS: (CONVERTED, REVENUE, VISITED),
}

# Order statuses that mean the line was given back; they count for return_rate, not spend.
RETURN_STATUSES = frozenset({"returned", "return", "refunded", "refund", "cancelled", "canceled"})

# Funnel event types, in funnel order.
EVENT_VIEW = "view"
EVENT_ADD_TO_CART = "add_to_cart"
EVENT_CHECKOUT = "checkout"
EVENT_PURCHASE = "purchase"
FUNNEL_EVENTS = (EVENT_VIEW, EVENT_ADD_TO_CART, EVENT_CHECKOUT, EVENT_PURCHASE)


# --- namespaces of derived tables (in the style of RecTools' `Columns`) ---------------------
class Feature:
    """Columns of the customer snapshot; `tests/test_column_names.py` checks that every column
    the SQL produces is named here."""

    CUSTOMER_ID = CUSTOMER_ID
    AS_OF = AS_OF
    FIRST_ORDER_AT = "first_order_at"
    LAST_ORDER_AT = "last_order_at"
    RECENCY_DAYS = "recency_days"
    FREQUENCY = "frequency"  # orders (not returns) up to the cut-off
    MONETARY_TOTAL = "monetary_total"
    MONETARY_AVG = "monetary_avg"
    TENURE_DAYS = "tenure_days"
    REPEAT_PURCHASE_DAYS = "repeat_purchase_days"
    GAP_MEAN_DAYS = "gap_mean_days"
    GAP_STD_DAYS = "gap_std_days"
    GAP_LAST_DAYS = "gap_last_days"
    ORDERS_30D = "orders_30d"
    ORDERS_90D = "orders_90d"
    ORDERS_180D = "orders_180d"
    SPEND_30D = "spend_30d"
    SPEND_90D = "spend_90d"
    SPEND_180D = "spend_180d"
    ORDERS_TREND = "orders_trend"
    SPEND_TREND = "spend_trend"
    DISTINCT_ITEMS = "distinct_items"
    DISTINCT_CATEGORIES = "distinct_categories"
    TOP_CATEGORY_SHARE = "top_category_share"
    RETURN_RATE = "return_rate"
    CHANNEL_SHARE_PREFIX = "channel_share_"  # one column per sales channel of the shop
    SESSIONS = "sessions"
    VIEWS = "views"
    CART_ADDS = "cart_adds"
    CART_ABANDONMENT_RATE = "cart_abandonment_rate"
    DAYS_SINCE_LAST_VISIT = "days_since_last_visit"
    MARKETING_CONSENT = MARKETING_CONSENT
    REGION = REGION
    AGE = AGE
    GENDER = GENDER
    ACQUISITION_CHANNEL = ACQUISITION_CHANNEL
    R_SCORE = "r_score"
    F_SCORE = "f_score"
    M_SCORE = "m_score"
    RFM_SEGMENT = RFM_SEGMENT
    LIFECYCLE_STAGE = LIFECYCLE_STAGE


class Score:
    """Columns of the scores table (`churnrec.scores`): `/churn_scores`, the export, the report."""

    CUSTOMER_ID = CUSTOMER_ID
    AS_OF = AS_OF
    MODEL_VERSION = "model_version"
    LAST_ORDER_DATE = "last_order_date"
    ORDERS = "orders"
    TOTAL_SPEND = "total_spend"
    RFM_SEGMENT = RFM_SEGMENT
    LIFECYCLE_STAGE = LIFECYCLE_STAGE
    CHURN_PROBABILITY = "churn_probability"
    RISK_TIER = "risk_tier"
    ACTION = "action"
    ACTION_DESCRIPTION = "action_description"
    REASONS = "reasons"  # in words
    TOP_REASONS = "top_reasons"  # {"feature", "value", "contribution"} per reason
    EXPECTED_DAYS_TO_NEXT_ORDER = "expected_days_to_next_order"
    P_ORDER_7D = "p_order_7d"
    P_ORDER_30D = "p_order_30d"
    P_ORDER_90D = "p_order_90d"
    MARKETING_CONSENT = MARKETING_CONSENT
    CONTACTABLE = "contactable"
    CLV = "clv"
    EXPECTED_LOSS = "expected_loss"
    UPLIFT = "uplift"
