/* Train mode of seiflow's MTP kernel (included by _mtpkernel.c): energy, forces and virial of a
 * structure together with their derivatives with respect to every MTP parameter (moment
 * coefficients w_s, species coefficients c_t, radial coefficients C[ti][tj][mu][q]), in one
 * pass over the pairs inside the cutoff.
 *
 * Per atom i, with dm_b = dE_i/dm_b the adjoints of the basic moments and
 * G_b(k) = d m_b / d r_k = f'_mu P_b u + f_mu (grad_u P_b - (grad_u P_b . u) u) / r,
 * the neighbour gradient is g_k = dE_i/dr_k = sum_b dm_b G_b(k). Its parameter derivatives:
 *     dg_k/dw_s = sum_b J[s][b] G_b(k),            J[s][b] = d m_mapping[s] / d m_b
 *     dg_k/dp   = sum_b D[p][b] G_b(k) + [type_k = tj] (T'_q a_mu u + T_q (grad_u A_mu)_perp / r)
 * for p = (tj, mu, q), where D[p][b] = sum_b' H[b][b'] S[b'][p] with H = d^2 E_i / dm_b dm_b'
 * (forward-over-reverse through the contractions, one tangent per basic moment),
 * S[b'][p] = d m_b' / dp = [mu_b' = mu] sum_{k of type tj} T_q(r_k) P_b'(u_k), T_q the smoothed
 * Chebyshev functions, a_mu = dE_i/df_mu and A_mu(u) = sum_{b of mu} dm_b P_b(u).
 * The rows [J; D] times G are one matrix product per atom; each row is then scattered into
 * forces (+g on i, -g on j) and virial (g (x) r_ij) like the primal gradient.
 */

typedef struct {
    int n_rows;                            /* n_scalar + n_species * rfc * rbs */
    double *t, *at;                        /* n_moments: tangent of m, of dE/dm */
    double *H, *S, *R;                     /* n_basic^2, n_basic x ns*rbs, n_rows x n_basic */
    double *dP, *G, *V, *Mk;               /* n_mono x 3 x cap, n_basic x 3 x cap, rfc x 3 x
                                              cap, n_rows x 3 x cap */
    void *block;
} train_ws;

static int tw_init(train_ws *tw, const mtp_model *M, int cap)
{
    size_t nb = (size_t)M->n_basic, c3 = 3 * (size_t)cap;
    tw->n_rows = M->n_scalar + M->n_species * M->rfc * M->rbs;
    size_t sizes[] = {(size_t)M->n_moments, (size_t)M->n_moments, nb * nb,
                      nb * M->n_species * M->rbs, (size_t)tw->n_rows * nb,
                      (size_t)M->n_mono * c3, nb * c3, (size_t)M->rfc * c3,
                      (size_t)tw->n_rows * c3};
    double **ptrs[] = {&tw->t, &tw->at, &tw->H, &tw->S, &tw->R, &tw->dP, &tw->G, &tw->V,
                       &tw->Mk};
    size_t total = 0;
    for (int k = 0; k < 9; k++)
        total += (sizes[k] + 7) / 8 * 8;
    double *d = (double *)aligned_alloc(64, (total * sizeof(double) + 63) / 64 * 64 + 64);
    if (!d)
        return -1;
    tw->block = d;
    for (int k = 0; k < 9; k++) {
        *ptrs[k] = d;
        d += (sizes[k] + 7) / 8 * 8;
    }
    return 0;
}

/* dP_q/du_a of every monomial (through the tree) and G_b(k) of every basic moment. */
static MTP_INLINE void basic_gradients(workspace *w, train_ws *tw, const mtp_model *M, int np)
{
    const int cap = w->cap;
    const double *u[3] = {w->ux, w->uy, w->uz};
    memset(tw->dP, 0, sizeof(double) * 3 * cap);
    for (int q = 1; q < M->n_mono; q++) {
        int par = M->mono_parent[q], ax = M->mono_axis[q];
        const double *pp = w->mono + par * cap;
        for (int a = 0; a < 3; a++) {
            const double *dp = tw->dP + (size_t)(3 * par + a) * cap;
            double *o = tw->dP + (size_t)(3 * q + a) * cap;
            for (int k = 0; k < np; k++)
                o[k] = dp[k] * u[ax][k] + (a == ax ? pp[k] : 0.0);
        }
    }
    for (int b = 0; b < M->n_basic; b++) {
        int q = M->basic_mono[b], mu = M->basic_mu[b];
        const double *p = w->mono + q * cap, *dp = tw->dP + (size_t)3 * q * cap;
        const double *f = w->f + mu * cap, *fp = w->fp + mu * cap;
        double *g = tw->G + (size_t)3 * b * cap;
        for (int k = 0; k < np; k++) {
            double dot = dp[k] * u[0][k] + dp[cap + k] * u[1][k] + dp[2 * cap + k] * u[2][k];
            for (int a = 0; a < 3; a++)
                g[a * cap + k] = fp[k] * p[k] * u[a][k]
                                 + f[k] * (dp[a * cap + k] - dot * u[a][k]) * w->inv_r[k];
        }
    }
    /* V_mu = (grad_u A_mu)_perp / r */
    memset(tw->V, 0, sizeof(double) * 3 * cap * M->rfc);
    for (int b = 0; b < M->n_basic; b++) {
        const double *dp = tw->dP + (size_t)3 * M->basic_mono[b] * cap;
        double *v = tw->V + (size_t)3 * M->basic_mu[b] * cap, g = w->dm[b];
        for (int k = 0; k < 3 * cap; k++)
            v[k] += g * dp[k];
    }
    for (int mu = 0; mu < M->rfc; mu++) {
        double *v = tw->V + (size_t)3 * mu * cap;
        for (int k = 0; k < np; k++) {
            double dot = v[k] * u[0][k] + v[cap + k] * u[1][k] + v[2 * cap + k] * u[2][k];
            for (int a = 0; a < 3; a++)
                v[a * cap + k] = (v[a * cap + k] - dot * u[a][k]) * w->inv_r[k];
        }
    }
}

/* H = d dm_b / d m_b' and J[s][b'] = d m_mapping[s] / d m_b' (rows 0..n_scalar of R). */
static MTP_INLINE void second_order(workspace *w, train_ws *tw, const mtp_model *M)
{
    const double *m = w->m, *dm = w->dm;
    double *t = tw->t, *at = tw->at;
    const int *ij = M->term_ij;
    for (int bp = 0; bp < M->n_basic; bp++) {
        memset(t, 0, sizeof(double) * M->n_moments);
        t[bp] = 1.0;
        for (int g = 0; g < M->n_groups; g++) {
            double acc = 0.0;
            for (int x = M->group_start[g]; x < M->group_start[g + 1]; x++)
                acc += M->term_mult[x] * (t[ij[2 * x]] * m[ij[2 * x + 1]]
                                          + m[ij[2 * x]] * t[ij[2 * x + 1]]);
            t[M->group_k[g]] += acc;
        }
        for (int x = 0; x < M->n_moments; x++) {
            int y = M->adj_order[x];
            double acc = 0.0;
            for (int u = M->use_start[y]; u < M->use_start[y + 1]; u++)
                acc += M->use_mult[u] * (at[M->use_k[u]] * m[M->use_other[u]]
                                         + dm[M->use_k[u]] * t[M->use_other[u]]);
            at[y] = acc;
        }
        for (int b = 0; b < M->n_basic; b++)
            tw->H[(size_t)b * M->n_basic + bp] = at[b];
        for (int s = 0; s < M->n_scalar; s++)
            tw->R[(size_t)s * M->n_basic + bp] = t[M->mapping[s]];
    }
}

/* S, the radial rows D of R, and dE_i/dC (into je_rad, the row of type ti). */
static MTP_INLINE void radial_rows(workspace *w, train_ws *tw, const mtp_model *M, int n,
                                   double *je_rad)
{
    const int cap = w->cap, rbs = M->rbs, rfc = M->rfc, nb = M->n_basic, ns = M->n_species;
    memset(tw->S, 0, sizeof(double) * nb * ns * rbs);
    int start = 0;
    while (start < n) {
        int tj = w->jtype[start], end = start;
        while (end < n && w->jtype[end] == tj)
            end++;
        for (int q = 0; q < rbs; q++) {
            const double *tb = w->tb + q * cap;
            for (int b = 0; b < nb; b++) {
                const double *p = w->mono + M->basic_mono[b] * cap;
                double acc = 0.0;
                for (int k = start; k < end; k++)
                    acc += tb[k] * p[k];
                tw->S[((size_t)b * ns + tj) * rbs + q] = acc;
            }
            for (int mu = 0; mu < rfc; mu++) {
                const double *af = w->af + mu * cap;
                double acc = 0.0;
                for (int k = start; k < end; k++)
                    acc += tb[k] * af[k];
                je_rad[(tj * rfc + mu) * rbs + q] += acc;
            }
        }
        start = end;
    }
    double *D = tw->R + (size_t)M->n_scalar * nb;
    memset(D, 0, sizeof(double) * (size_t)ns * rfc * rbs * nb);
    for (int bp = 0; bp < nb; bp++) {
        int mu = M->basic_mu[bp];
        for (int tj = 0; tj < ns; tj++)
            for (int q = 0; q < rbs; q++) {
                double s = tw->S[((size_t)bp * ns + tj) * rbs + q];
                if (s == 0.0)
                    continue;
                double *row = D + ((size_t)(tj * rfc + mu) * rbs + q) * nb;
                for (int b = 0; b < nb; b++)
                    row[b] += tw->H[(size_t)b * nb + bp] * s;
            }
    }
}

/* Mk = R G plus the direct radial term, each row scattered into forces and virial. */
static MTP_INLINE void train_scatter(workspace *w, train_ws *tw, const mtp_model *M, int i, int n,
                                     int np, int n_atoms, int rad0, double *jf, double *jv)
{
    const int cap = w->cap, nb = M->n_basic, rbs = M->rbs, rfc = M->rfc;
    const double *u[3] = {w->ux, w->uy, w->uz};
    for (int r = 0; r < tw->n_rows; r++) {
        double *mk = tw->Mk + (size_t)3 * r * cap;
        memset(mk, 0, sizeof(double) * 3 * cap);
        const double *rr = tw->R + (size_t)r * nb;
        for (int b = 0; b < nb; b++) {
            double c = rr[b];
            if (c == 0.0)
                continue;
            const double *g = tw->G + (size_t)3 * b * cap;
            for (int a = 0; a < 3; a++)
                for (int k = 0; k < np; k++)
                    mk[a * cap + k] += c * g[a * cap + k];
        }
    }
    int start = 0;
    while (start < n) {
        int tj = w->jtype[start], end = start;
        while (end < n && w->jtype[end] == tj)
            end++;
        for (int mu = 0; mu < rfc; mu++)
            for (int q = 0; q < rbs; q++) {
                int r = M->n_scalar + (tj * rfc + mu) * rbs + q;
                double *mk = tw->Mk + (size_t)3 * r * cap;
                const double *tb = w->tb + q * cap, *dtb = w->dtb + q * cap;
                const double *af = w->af + mu * cap, *v = tw->V + (size_t)3 * mu * cap;
                for (int a = 0; a < 3; a++)
                    for (int k = start; k < end; k++)
                        mk[a * cap + k] += dtb[k] * af[k] * u[a][k] + tb[k] * v[a * cap + k];
            }
        start = end;
    }
    for (int r = 0; r < tw->n_rows; r++) {
        int p = r < M->n_scalar ? r : rad0 + r - M->n_scalar;
        const double *mk = tw->Mk + (size_t)3 * r * cap;
        double *f = jf + (size_t)p * 3 * n_atoms, *v = jv + (size_t)p * 9;
        for (int k = 0; k < n; k++) {
            int j = w->jidx[k];
            double g[3] = {mk[k], mk[cap + k], mk[2 * cap + k]};
            double d[3] = {w->dx[k], w->dy[k], w->dz[k]};
            for (int a = 0; a < 3; a++) {
                f[3 * i + a] += g[a];
                f[3 * j + a] -= g[a];
                for (int c = 0; c < 3; c++)
                    v[3 * a + c] += g[a] * d[c];
            }
        }
    }
}

/* One atom in train mode: primal energy, forces, virial and all their parameter rows. */
MTP_CLONES
static void train_atom(workspace *w, train_ws *tw, const mtp_model *M, const double *seed, int i,
                       const double *pos, const double *cell, const int *types,
                       const int64_t *offsets, const int32_t *nj, const int32_t *ns,
                       int n_atoms, double *energies, double *frc, double *vir, double *je,
                       double *jf, double *jv)
{
    int n = gather(w, M, i, pos, cell, types, offsets, nj, ns);
    int np = (n + LANES - 1) / LANES * LANES, ti = types[i];
    int rad0 = M->n_scalar + M->n_species + ti * M->n_species * M->rfc * M->rbs;
    radial(w, M, ti, n, np);
    moments(w, M, np);
    double e = M->species_coeffs[ti];
    for (int s = 0; s < M->n_scalar; s++) {
        double v = w->m[M->mapping[s]];
        e += M->moment_coeffs[s] * v;
        je[s] += v;
    }
    je[M->n_scalar + ti] += 1.0;
    energies[i] = e;
    moment_adjoints(w, M, seed);
    neighbour_gradient(w, M, np);
    for (int k = 0; k < n; k++) {
        int j = w->jidx[k];
        double g[3] = {w->aux[k], w->auy[k], w->auz[k]};
        double d[3] = {w->dx[k], w->dy[k], w->dz[k]};
        for (int a = 0; a < 3; a++) {
            frc[3 * i + a] += g[a];
            frc[3 * j + a] -= g[a];
            for (int c = 0; c < 3; c++)
                vir[3 * a + c] += g[a] * d[c];
        }
    }
    basic_gradients(w, tw, M, np);
    second_order(w, tw, M);
    radial_rows(w, tw, M, n, je + rad0);
    train_scatter(w, tw, M, i, n, np, n_atoms, rad0, jf, jv);
}

/* Train mode over a structure (serial). Outputs as mtp_evaluate, plus, for the n_params =
 * n_scalar + n_species + n_species^2 rfc rbs parameters in motep's order (moment, species,
 * radial coefficients): je (n_params) = dE/dtheta, jf (n_params x n_atoms x 3) = dF/dtheta,
 * jv (n_params x 3 x 3) = d virial / dtheta. Returns 0, or -1 when memory ran out. */
MTP_EXPORT int mtp_train(const mtp_model *M, int n_atoms, const double *pos, const double *cell,
                         const int *types, const int64_t *offsets, const int32_t *nj,
                         const int32_t *ns, double *energies, double *forces, double *virial,
                         double *je, double *jf, double *jv)
{
    size_t n_params = (size_t)M->n_scalar + M->n_species
                      + (size_t)M->n_species * M->n_species * M->rfc * M->rbs;
    int max_nb = 0;
    for (int i = 0; i < n_atoms; i++) {
        int c = (int)(offsets[i + 1] - offsets[i]);
        max_nb = c > max_nb ? c : max_nb;
    }
    memset(forces, 0, sizeof(double) * 3 * n_atoms);
    memset(virial, 0, sizeof(double) * 9);
    memset(je, 0, sizeof(double) * n_params);
    memset(jf, 0, sizeof(double) * n_params * 3 * n_atoms);
    memset(jv, 0, sizeof(double) * n_params * 9);
    double *seed = (double *)calloc((size_t)M->n_moments, sizeof(double));
    workspace w;
    train_ws tw;
    if (!seed)
        return -1;
    if (ws_init(&w, M, max_nb) != 0) {
        free(seed);
        return -1;
    }
    if (tw_init(&tw, M, w.cap) != 0) {
        free(w.block);
        free(seed);
        return -1;
    }
    for (int s = 0; s < M->n_scalar; s++)
        seed[M->mapping[s]] += M->moment_coeffs[s];
    for (int i = 0; i < n_atoms; i++)
        train_atom(&w, &tw, M, seed, i, pos, cell, types, offsets, nj, ns, n_atoms, energies,
                   forces, virial, je, jf, jv);
    free(tw.block);
    free(w.block);
    free(seed);
    return 0;
}
