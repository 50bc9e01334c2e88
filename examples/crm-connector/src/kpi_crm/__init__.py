"""The `crm` connector: won deals from the Example CRM's API, for the revenue_transactions entity."""

from kpi_crm.connector import CrmConnector, CrmOptions

__all__ = ["CrmConnector", "CrmOptions"]
