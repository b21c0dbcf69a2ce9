"""fulfilment: carriers (seeded), pick lists, shipments, tracking events

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Reference data: the carriers an installation starts with. Operators edit the rows in place
# (transit days per destination country or zone, cut-off, default carrier for the placement promise).
CARRIERS = [
    {
        "code": "CORREOS", "name": "Correos", "is_default": True,
        "tracking_url_template": "https://www.correos.es/es/es/herramientas/localizador/envios/detalle?tracking-number={tracking_number}",
        "transit_days": {"DOMESTIC": 2, "PT": 3, "EU": 5, "INTERNATIONAL": 8}, "default_transit_days": 8,
        "cutoff_time": "17:00", "timezone": "Europe/Madrid",
    },
    {
        "code": "SEUR", "name": "SEUR", "is_default": False,
        "tracking_url_template": "https://www.seur.com/livetracking/?segOnlineIdentificador={tracking_number}",
        "transit_days": {"DOMESTIC": 1, "PT": 2, "EU": 3, "INTERNATIONAL": 6}, "default_transit_days": 6,
        "cutoff_time": "18:00", "timezone": "Europe/Madrid",
    },
    {
        "code": "DHL", "name": "DHL Express", "is_default": False,
        "tracking_url_template": "https://www.dhl.com/es-en/home/tracking/tracking-express.html?tracking-id={tracking_number}",
        "transit_days": {"DOMESTIC": 1, "EU": 2, "INTERNATIONAL": 4}, "default_transit_days": 4,
        "cutoff_time": "16:00", "timezone": "Europe/Madrid",
    },
    {
        "code": "UPS", "name": "UPS", "is_default": False,
        "tracking_url_template": "https://www.ups.com/track?tracknum={tracking_number}",
        "transit_days": {"DOMESTIC": 1, "EU": 3, "US": 4, "INTERNATIONAL": 5}, "default_transit_days": 5,
        "cutoff_time": "17:30", "timezone": "Europe/Madrid",
    },
]


def upgrade() -> None:
    carriers = op.create_table('carriers',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('tracking_url_template', sa.String(length=500), nullable=True),
    sa.Column('transit_days', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('default_transit_days', sa.Integer(), nullable=False),
    sa.Column('cutoff_time', sa.Time(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_carriers'))
    )
    # At most one default carrier.
    op.create_index('uq_carriers_default', 'carriers', ['is_default'], unique=True, postgresql_where=sa.text('is_default'))
    op.create_table('pick_lists',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('warehouse_id', sa.UUID(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_pick_lists_warehouse_id_warehouses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pick_lists')),
    sa.UniqueConstraint('number', name=op.f('uq_pick_lists_number'))
    )
    op.create_index('ix_pick_lists_created_at_id', 'pick_lists', ['created_at', 'id'], unique=False)
    op.create_index(op.f('ix_pick_lists_warehouse_id'), 'pick_lists', ['warehouse_id'], unique=False)
    op.create_table('pick_list_lines',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('pick_list_id', sa.UUID(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.UUID(), nullable=False),
    sa.Column('order_line_id', sa.UUID(), nullable=False),
    sa.Column('allocation_id', sa.UUID(), nullable=True),
    sa.Column('order_number', sa.String(length=32), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('product_name', sa.String(length=300), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['pick_list_id'], ['pick_lists.id'], name=op.f('fk_pick_list_lines_pick_list_id_pick_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_pick_list_lines_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_pick_list_lines_order_line_id_order_lines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocations.id'], name=op.f('fk_pick_list_lines_allocation_id_allocations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pick_list_lines'))
    )
    op.create_index('ix_pick_list_lines_pick_list_id_position', 'pick_list_lines', ['pick_list_id', 'position'], unique=False)
    op.create_index(op.f('ix_pick_list_lines_order_id'), 'pick_list_lines', ['order_id'], unique=False)
    op.create_index(op.f('ix_pick_list_lines_order_line_id'), 'pick_list_lines', ['order_line_id'], unique=False)
    op.create_index(op.f('ix_pick_list_lines_allocation_id'), 'pick_list_lines', ['allocation_id'], unique=False)
    op.create_table('shipments',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('order_id', sa.UUID(), nullable=False),
    sa.Column('warehouse_id', sa.UUID(), nullable=False),
    sa.Column('carrier_code', sa.String(length=32), nullable=False),
    sa.Column('tracking_number', sa.String(length=100), nullable=True),
    sa.Column('tracking_url', sa.String(length=700), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('promised_delivery_date', sa.Date(), nullable=True),
    sa.Column('estimated_delivery_date', sa.Date(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_shipments_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_shipments_warehouse_id_warehouses')),
    sa.ForeignKeyConstraint(['carrier_code'], ['carriers.code'], name=op.f('fk_shipments_carrier_code_carriers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments'))
    )
    op.create_index('ix_shipments_shipped_at_id', 'shipments', ['shipped_at', 'id'], unique=False)
    op.create_index('ix_shipments_order_id_shipped_at', 'shipments', ['order_id', 'shipped_at'], unique=False)
    op.create_index(op.f('ix_shipments_warehouse_id'), 'shipments', ['warehouse_id'], unique=False)
    op.create_table('shipment_lines',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('shipment_id', sa.UUID(), nullable=False),
    sa.Column('order_line_id', sa.UUID(), nullable=False),
    sa.Column('allocation_id', sa.UUID(), nullable=True),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_shipment_lines_shipment_id_shipments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_shipment_lines_order_line_id_order_lines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocations.id'], name=op.f('fk_shipment_lines_allocation_id_allocations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_lines'))
    )
    op.create_index(op.f('ix_shipment_lines_shipment_id'), 'shipment_lines', ['shipment_id'], unique=False)
    op.create_index(op.f('ix_shipment_lines_order_line_id'), 'shipment_lines', ['order_line_id'], unique=False)
    op.create_index(op.f('ix_shipment_lines_allocation_id'), 'shipment_lines', ['allocation_id'], unique=False)
    op.create_table('tracking_events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('shipment_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('recorded_by', sa.String(length=200), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_tracking_events_shipment_id_shipments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_events')),
    sa.UniqueConstraint('shipment_id', 'status', 'occurred_at', name='uq_tracking_events_shipment_status_time')
    )
    op.create_index('ix_tracking_events_shipment_id_occurred_at', 'tracking_events', ['shipment_id', 'occurred_at'], unique=False)
    op.bulk_insert(carriers, [{**c, "active": True, "cutoff_time": _time(c["cutoff_time"])} for c in CARRIERS])


def _time(value: str):  # type: ignore[no-untyped-def]
    from datetime import time

    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def downgrade() -> None:
    op.drop_index('ix_tracking_events_shipment_id_occurred_at', table_name='tracking_events')
    op.drop_table('tracking_events')
    op.drop_index(op.f('ix_shipment_lines_allocation_id'), table_name='shipment_lines')
    op.drop_index(op.f('ix_shipment_lines_order_line_id'), table_name='shipment_lines')
    op.drop_index(op.f('ix_shipment_lines_shipment_id'), table_name='shipment_lines')
    op.drop_table('shipment_lines')
    op.drop_index(op.f('ix_shipments_warehouse_id'), table_name='shipments')
    op.drop_index('ix_shipments_order_id_shipped_at', table_name='shipments')
    op.drop_index('ix_shipments_shipped_at_id', table_name='shipments')
    op.drop_table('shipments')
    op.drop_index(op.f('ix_pick_list_lines_allocation_id'), table_name='pick_list_lines')
    op.drop_index(op.f('ix_pick_list_lines_order_line_id'), table_name='pick_list_lines')
    op.drop_index(op.f('ix_pick_list_lines_order_id'), table_name='pick_list_lines')
    op.drop_index('ix_pick_list_lines_pick_list_id_position', table_name='pick_list_lines')
    op.drop_table('pick_list_lines')
    op.drop_index(op.f('ix_pick_lists_warehouse_id'), table_name='pick_lists')
    op.drop_index('ix_pick_lists_created_at_id', table_name='pick_lists')
    op.drop_table('pick_lists')
    op.drop_index('uq_carriers_default', table_name='carriers', postgresql_where=sa.text('is_default'))
    op.drop_table('carriers')
